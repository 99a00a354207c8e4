package storetest

import (
	"fmt"
	"reflect"
)

// filler sets every exported field reachable from a value to a distinct
// non-zero value, so that a round trip proves each field is kept, including
// fields added to the record types after this suite was written.
type filler struct {
	n    int
	salt string
}

// fill sets every settable leaf under v. Strings carry quotes, a backslash
// and non-ASCII text so that escaping is exercised; integers alternate in
// sign; slices get two elements; pointers and maps are allocated.
func (f *filler) fill(v reflect.Value) {
	f.n++
	n := f.n
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s%d-'q\" \\ æøå", f.salt, n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x := int64(n)
		if n%2 == 0 {
			x = -x
		}
		if v.Kind() == reflect.Int64 || v.Kind() == reflect.Int {
			// Large values catch a column too narrow for int64.
			x *= 1 << 33
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(n) + 0.1)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem())
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			f.fill(s.Index(i))
		}
		v.Set(s)
	case reflect.Array:
		for i := range v.Len() {
			f.fill(v.Index(i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		f.fill(k)
		f.fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	default:
		panic(fmt.Sprintf("storetest: cannot fill a %s; teach filler this kind", v.Type()))
	}
}

// scribble changes every settable leaf under v in place, through slices,
// pointers and maps, without reallocating them. After a caller scribbles
// over a value it gave a store or got from one, the store's copy must be
// unchanged: nothing may be shared.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "#scribbled")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 7)
	case reflect.Pointer:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			scribble(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	}
}
