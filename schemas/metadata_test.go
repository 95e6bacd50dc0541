package schemas

import "testing"

func TestStatusElsewhere(t *testing.T) {
	for _, tc := range []struct {
		meta string
		want []int
		skip bool
	}{
		{"", []int{StatusResolved}, false},  // no metadata: decode
		{"x", []int{StatusResolved}, false}, // unreadable: decode
		{"9", []int{StatusResolved}, false}, // the status wanted
		{"4", []int{StatusResolved}, true},  // another one
		{"6", []int{StatusReceived, StatusFeeDue}, false},
		{"10", []int{StatusReceived, StatusFeeDue}, true},
	} {
		if got := StatusElsewhere(tc.meta, tc.want...); got != tc.skip {
			t.Errorf("StatusElsewhere(%q, %v) = %v, want %v", tc.meta, tc.want, got, tc.skip)
		}
	}
}
