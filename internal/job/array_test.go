package job

import (
	"errors"
	"reflect"
	"testing"
)

func seq(from, to, step int) []int {
	var out []int
	for i := from; i <= to; i += step {
		out = append(out, i)
	}
	return out
}

func TestParseArray(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want Array
	}{
		{"0-15:4%2", 0, Array{Indices: []int{0, 4, 8, 12}, MaxRunning: 2}},
		{"1,3,5-7", 0, Array{Indices: []int{1, 3, 5, 6, 7}}},
		{"0-9%3", 0, Array{Indices: seq(0, 9, 1), MaxRunning: 3}},
		{"7", 0, Array{Indices: []int{7}}},
		{"5,1,5,3", 0, Array{Indices: []int{1, 3, 5}}},
		{"0-1000", 0, Array{Indices: seq(0, 1000, 1)}},
		{"1-10:3", 0, Array{Indices: []int{1, 4, 7, 10}}},
		{"[1-3]", 0, Array{Indices: []int{1, 2, 3}}},
		{"0-3%0", 0, Array{Indices: []int{0, 1, 2, 3}}},
		{"0-99", 100, Array{Indices: seq(0, 99, 1)}},
	}
	for _, tc := range tests {
		got, err := ParseArray(tc.in, tc.max)
		if err != nil {
			t.Errorf("ParseArray(%q, %d) error: %v", tc.in, tc.max, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseArray(%q, %d) = %+v; want %+v", tc.in, tc.max, got, tc.want)
		}
	}
	bad := []struct {
		in  string
		max int
	}{
		{"", 0}, {"%2", 0}, {"0-1001", 0}, {"1001", 0}, {"0-100", 100}, {"5-1", 0}, {"1:2", 0},
		{"0-10:0", 0}, {"0-10:-1", 0}, {"a-b", 0}, {"-3", 0}, {"1,,2", 0}, {"0-3%x", 0}, {"0-3%-1", 0},
		{"0-10:1001", 0},
	}
	for _, tc := range bad {
		if got, err := ParseArray(tc.in, tc.max); !errors.Is(err, ErrBadArray) {
			t.Errorf("ParseArray(%q, %d) = %+v, %v; want ErrBadArray", tc.in, tc.max, got, err)
		}
	}
}
