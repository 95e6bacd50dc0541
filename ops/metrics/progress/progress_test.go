package progress

import "testing"

func TestLine(t *testing.T) {
	c := New()
	c.Add("sonla", Pulled, 1593)
	c.Add("sonla", Quarantined, 9)
	c.Add("sonla", Synced, 785)
	c.Add("hatinh", Pulled, 2)
	c.Add("hatinh", Synced, 1)
	if got, want := c.Figures("sonla"), "1593 versions pulled, 9 versions quarantined, 785 versions synced"; got != want {
		t.Errorf("Figures = %q, want %q", got, want)
	}
	want := "hatinh: 2 versions pulled, 0 versions quarantined, 1 version synced | sonla: 1593 versions pulled, 9 versions quarantined, 785 versions synced"
	if got := c.Line(nil); got != want {
		t.Errorf("Line(nil) = %q, want %q", got, want)
	}
	var none *Counters
	none.Add("sonla", Pulled, 1)
	if got := none.Figures("sonla"); got != "0 versions pulled, 0 versions quarantined, 0 versions synced" {
		t.Errorf("nil Counters: %q", got)
	}
}
