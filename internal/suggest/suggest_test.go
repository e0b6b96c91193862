package suggest

import "testing"

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"task", "task", 0},
		{"taks", "task", 2},
		{"oslo-messaging", "oslo-mesaging", 1},
		{"", "abc", 3},
		{"nova", "neutron", 6},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Distance(tt.b, tt.a); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, not symmetric", tt.b, tt.a, got)
		}
	}
}
