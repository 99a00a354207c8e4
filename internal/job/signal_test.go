package job

import "testing"

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want Signal
	}{
		{"USR1", Signal{Num: 10, Name: "USR1", BeforeS: DefaultSignalBeforeS}},
		{"B:USR1@120", Signal{Num: 10, Name: "USR1", BatchOnly: true, BeforeS: 120}},
		{"R:TERM@30", Signal{Num: 15, Name: "TERM", Reservation: true, BeforeS: 30}},
		{"RB:SIGUSR2@0", Signal{Num: 12, Name: "USR2", BatchOnly: true, Reservation: true, BeforeS: 0}},
		{"br:usr2", Signal{Num: 12, Name: "USR2", BatchOnly: true, Reservation: true, BeforeS: 60}},
		{"10@600", Signal{Num: 10, Name: "USR1", BeforeS: 600}},
		{"40", Signal{Num: 40, BeforeS: 60}},
		{"sigterm", Signal{Num: 15, Name: "TERM", BeforeS: 60}},
		{":INT", Signal{Num: 2, Name: "INT", BeforeS: 60}},
		{"KILL@65535", Signal{Num: 9, Name: "KILL", BeforeS: 65535}},
	}
	for _, tc := range tests {
		got, err := ParseSignal(tc.in)
		if err != nil {
			t.Errorf("ParseSignal(%q) error: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseSignal(%q) = %+v; want %+v", tc.in, got, tc.want)
		}
		back, err := ParseSignal(got.String())
		if err != nil || back != got {
			t.Errorf("ParseSignal(%q).String() = %q, which parses to %+v, %v", tc.in, got.String(), back, err)
		}
	}
	for _, in := range []string{"", "FOO", "0", "-1", "70000", "USR1@", "USR1@-5", "USR1@70000", "USR1@1m", "X:USR1", "B:", "USR1 x"} {
		if got, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) = %+v; want an error", in, got)
		}
	}
}
