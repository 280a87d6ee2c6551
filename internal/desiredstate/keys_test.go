package desiredstate

import "testing"

func TestKeysMerge(t *testing.T) {
	base := DefaultKeys()
	base.PerEnvironment = []string{"config.region"}
	got := base.Merge(Keys{ImageTag: "app.image.tag", DNS: []string{"route.host"}, PerEnvironment: []string{"config.featureFlags.*"}})
	if got.ImageTag != "app.image.tag" || got.ImageRepository != "image.repository" {
		t.Errorf("strings: %+v", got)
	}
	if len(got.DNS) != 1 || got.DNS[0] != "route.host" || len(got.SecretRefs) != len(DefaultKeys().SecretRefs) {
		t.Errorf("lists: %+v", got)
	}
	if !got.IsPerEnvironment("config.region") || !got.IsPerEnvironment("config.featureFlags.search") || !got.IsPerEnvironment("route.host") {
		t.Errorf("per-environment keys lost: %+v", got.PerEnvironment)
	}
	if got.IsPerEnvironment("image.tag") {
		t.Error("image.tag became per-environment")
	}
	if len(base.PerEnvironment) != 1 {
		t.Error("Merge changed its receiver's list")
	}
}
