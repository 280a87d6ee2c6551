package policy

import "time"

// dateLayout is how a waiver's expiry is written in a policy file.
const dateLayout = "2006-01-02"

// waive marks f with the policy's waiver for its app and rule, if any. A
// waiver holds until the start (00:00 UTC) of its expiry date: "expires:
// 2027-01-31" waives the finding through 30 January. An expired waiver
// stays on the finding, so reports can show it, but no longer excuses it.
func (p *Policy) waive(f *Finding, now time.Time) {
	for _, w := range p.waivers {
		if w.App != f.App || w.Rule != f.Rule {
			continue
		}
		w.Expired = !now.Before(w.Expires)
		if w.Expired {
			f.Message += "; waiver expired on " + w.Expires.Format(dateLayout) + " (" + w.Reason + ")"
		}
		f.Waiver = &w
		return
	}
}

// Waivers returns the policy's waivers, in file order.
func (p *Policy) Waivers() []Waiver {
	p = p.orDefault()
	out := make([]Waiver, len(p.waivers))
	copy(out, p.waivers)
	return out
}

// parseExpiry reads a waiver's expiry: a date (2027-01-31) or, for a
// waiver that ends at a given moment, an RFC 3339 time.
func parseExpiry(s string) (time.Time, bool) {
	if t, err := time.Parse(dateLayout, s); err == nil {
		return t, true
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}
