package suggest

import "testing"

func TestClosest(t *testing.T) {
	candidates := []string{"desiredState", "preprod", "exttest", "version"}
	for in, want := range map[string]string{
		"desired_state": "desiredState", // separators and case ignored first
		"PreProd":       "preprod",
		"exttst":        "exttest",
		"verison":       "version",
		"registry":      "", // nothing near enough
	} {
		if got := Closest(in, candidates); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	if d := Distance("kitten", "sitting"); d != 3 {
		t.Errorf("Distance = %d, want 3", d)
	}
	if d := Distance("ä", "a"); d != 1 {
		t.Errorf("Distance counts runes, not bytes: %d", d)
	}
}
