package signing_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/signing"
	"github.com/stepper-cd/stepper/internal/testenv"
)

func TestLoadKeyFromCosignCLI(t *testing.T) {
	dir := t.TempDir()
	out, err := cosign(t, []string{"COSIGN_PASSWORD=" + testOnlyPassword}, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "test-only-cosign"))
	if err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	pemKey, err := os.ReadFile(filepath.Join(dir, "test-only-cosign.key"))
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := os.ReadFile(filepath.Join(dir, "test-only-cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}

	key, err := signing.LoadKey(t.Context(), signing.KeySource{PEM: pemKey, Password: []byte(testOnlyPassword)})
	if err != nil {
		t.Fatalf("LoadKey of a cosign generate-key-pair key: %v", err)
	}
	got, err := key.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if !samePublicKey(t, got, pubPEM) {
		t.Fatalf("PublicKeyPEM = %s, want the key in cosign.pub:\n%s", got, pubPEM)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(key.ID()) {
		t.Fatalf("ID() = %q, want sha256:<64 hex>", key.ID())
	}
	again, err := signing.LoadKey(t.Context(), signing.KeySource{PEM: pemKey, Password: []byte(testOnlyPassword)})
	if err != nil || again.ID() != key.ID() {
		t.Fatalf("ID is not stable: %q then %q (err %v)", key.ID(), again.ID(), err)
	}

	// A signature made with it passes the CLI's own verification.
	p := platform.Get(t)
	img := pushImage(t, p.Registry.Host, "signing/cli-key")
	if _, err := signing.Sign(t.Context(), key, img, signing.Options{}); err != nil {
		t.Fatal(err)
	}
	cosignVerify(t, filepath.Join(dir, "test-only-cosign.pub"), img)
}

func samePublicKey(t *testing.T, a, b []byte) bool {
	t.Helper()
	parse := func(p []byte) []byte {
		block, _ := pem.Decode(p)
		if block == nil {
			t.Fatalf("not PEM: %q", p)
		}
		if _, err := x509.ParsePKIXPublicKey(block.Bytes); err != nil {
			t.Fatal(err)
		}
		return block.Bytes
	}
	return string(parse(a)) == string(parse(b))
}

func TestLoadKeyErrors(t *testing.T) {
	k := newTestKey(t)
	corrupt := []byte(strings.Replace(string(k.PEM), "\n", "\nAAAA", 3))
	tests := []struct {
		name string
		src  signing.KeySource
		want string
	}{
		{"wrong password", signing.KeySource{PEM: k.PEM, Password: []byte("canary-wrong-password-1234")}, "signing key: the password does not decrypt the key (check signing.password)"},
		{"garbage", signing.KeySource{PEM: []byte("canary-garbage-not-a-key"), Password: []byte(testOnlyPassword)}, "signing key: not a PEM key"},
		{"public key instead", signing.KeySource{PEM: k.PubPEM}, `PEM block "PUBLIC KEY" is not a cosign private key`},
		{"damaged", signing.KeySource{PEM: corrupt, Password: []byte(testOnlyPassword)}, "signing key: "},
		{"nothing", signing.KeySource{}, "no key given"},
		{"both", signing.KeySource{PEM: k.PEM, KMS: "testonly://x"}, "not both"},
		{"kms without plugin", signing.KeySource{KMS: "stepper-no-such-kms://key"}, "put an executable sigstore-kms-stepper-no-such-kms on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signing.LoadKey(t.Context(), tt.src)
			if err == nil {
				t.Fatal("LoadKey succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if c := exit.ClassOf(err); c != exit.Usage {
				t.Errorf("class = %v, want usage", c)
			}
			for _, secret := range append(pemBodyLines(k.PEM), "canary", string(tt.src.Password), "-----BEGIN") {
				if len(secret) > 0 && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals %q", err, secret)
				}
			}
		})
	}
}

func TestSigTagVerifiedByCosign(t *testing.T) {
	p := platform.Get(t)
	k := newTestKey(t)
	key := k.load(t)
	img := pushImage(t, p.Registry.Host, "signing/sigtag")

	ref, err := signing.Sign(t.Context(), key, img, signing.Options{Annotations: map[string]string{"env": "prod"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".sig").String(); ref != want {
		t.Errorf("Sign returned %q, want %q", ref, want)
	}
	st, err := provenance().Statement(img)
	if err != nil {
		t.Fatal(err)
	}
	attRef, err := signing.Attest(t.Context(), key, img, st, signing.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(attRef, ".att") {
		t.Errorf("Attest returned %q, want the .att tag", attRef)
	}

	cosignVerify(t, k.pubPath(), img, "-a", "env=prod")
	out := cosignVerifyAttestation(t, k.pubPath(), img)
	if got := verifiedPredicateTypes(t, out); len(got) != 1 || got[0] != signing.ProvenancePredicateType {
		t.Errorf("verify-attestation verified predicate types %q, want the provenance:\n%s", got, out)
	}

	// The checks are real: another key and a wrong claim both fail.
	other := newTestKey(t)
	if out, err := cosign(t, nil, "verify", "--key", other.pubPath(), "--insecure-ignore-tlog=true", "--allow-http-registry", img.String()); err == nil {
		t.Errorf("cosign verify with another key passed:\n%s", out)
	}
	if out, err := cosign(t, nil, "verify", "--key", k.pubPath(), "--insecure-ignore-tlog=true", "--allow-http-registry", "-a", "env=dev", img.String()); err == nil {
		t.Errorf("cosign verify -a env=dev passed on a signature claiming env=prod:\n%s", out)
	}
}

func TestSignTwiceAddsNothing(t *testing.T) {
	p := platform.Get(t)
	key := newTestKey(t).load(t)
	img := pushImage(t, p.Registry.Host, "signing/twice")
	st, err := provenance().Statement(img)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := signing.Sign(t.Context(), key, img, signing.Options{}); err != nil {
			t.Fatal(err)
		}
		if _, err := signing.Attest(t.Context(), key, img, st, signing.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, suffix := range []string{"sig", "att"} {
		if n := len(tagLayers(t, img, suffix)); n != 1 {
			t.Errorf(".%s image has %d layers after signing twice, want 1", suffix, n)
		}
	}
	// A different claim is a new entry.
	if _, err := signing.Sign(t.Context(), key, img, signing.Options{Annotations: map[string]string{"run": "2"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(tagLayers(t, img, "sig")); n != 2 {
		t.Errorf(".sig image has %d layers after a second claim, want 2", n)
	}
}

// tagLayers returns the claims of each entry in img's .sig or .att image:
// the signed "optional" annotations of a simple-signing payload, or the
// layer annotations of an attestation.
func tagLayers(t testing.TB, img name.Digest, suffix string) []map[string]string {
	t.Helper()
	tag := img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + "." + suffix)
	got, err := remote.Image(tag, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("read %s: %v", tag, err)
	}
	m, err := got.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, l := range m.Layers {
		if suffix != "sig" {
			out = append(out, l.Annotations)
			continue
		}
		layer, err := got.LayerByDigest(l.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layer.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		var payload struct {
			Optional map[string]string `json:"optional"`
		}
		err = json.NewDecoder(rc).Decode(&payload)
		rc.Close()
		if err != nil {
			t.Fatalf("%s layer %s: %v", tag, l.Digest, err)
		}
		out = append(out, payload.Optional)
	}
	return out
}

// TestBundleVerifiedByCosign writes the bundle format to a registry with the
// referrers API and to docker-registry 2.8, where go-containerregistry keeps
// the sha256-<hex> fallback index instead.
func TestBundleVerifiedByCosign(t *testing.T) {
	p := platform.Get(t)
	for _, reg := range []*testenv.Registry{p.ReferrersRegistry, p.Registry} {
		t.Run(fmt.Sprintf("referrers=%v", reg.Referrers), func(t *testing.T) {
			k := newTestKey(t)
			key := k.load(t)
			img := pushImage(t, reg.Host, "signing/bundle")
			o := signing.Options{Format: signing.FormatBundle, Annotations: map[string]string{"env": "prod"}}

			ref, err := signing.Sign(t.Context(), key, img, o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ref, img.Context().Name()+"@sha256:") {
				t.Errorf("Sign returned %q, want repo@<referrer digest>", ref)
			}
			again, err := signing.Sign(t.Context(), key, img, o)
			if err != nil || again != ref {
				t.Errorf("signing again returned %q (err %v), want the existing %q", again, err, ref)
			}
			st, err := provenance().Statement(img)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := signing.Attest(t.Context(), key, img, st, signing.Options{Format: signing.FormatBundle}); err != nil {
				t.Fatal(err)
			}

			// Nothing in the tag format: cosign can only have found the bundles.
			for _, suffix := range []string{"sig", "att"} {
				tag := img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + "." + suffix)
				if _, err := remote.Head(tag, remote.WithContext(t.Context())); !isNotFound(err) {
					t.Fatalf("HEAD %s: %v, want 404", tag, err)
				}
			}
			if n := countReferrers(t, img); n != 2 {
				t.Errorf("%d referrers, want 2 (one signature, one attestation)", n)
			}

			cosignVerify(t, k.pubPath(), img, "--new-bundle-format=true", "-a", "env=prod")
			out := cosignVerifyAttestation(t, k.pubPath(), img, "--new-bundle-format=true")
			if got := verifiedPredicateTypes(t, out); len(got) != 1 || got[0] != signing.ProvenancePredicateType {
				t.Errorf("verify-attestation verified predicate types %q, want the provenance:\n%s", got, out)
			}
			other := newTestKey(t)
			if out, err := cosign(t, nil, "verify", "--key", other.pubPath(), "--insecure-ignore-tlog=true", "--allow-http-registry", "--new-bundle-format=true", img.String()); err == nil {
				t.Errorf("cosign verify with another key passed:\n%s", out)
			}
		})
	}
}

func countReferrers(t testing.TB, img name.Digest) int {
	t.Helper()
	idx, err := remote.Referrers(img, remote.WithContext(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return len(m.Manifests)
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// verifiedPredicateTypes reads the envelopes cosign verify-attestation prints
// on stdout, one JSON object a line.
func verifiedPredicateTypes(t testing.TB, out string) []string {
	t.Helper()
	var types []string
	for line := range strings.SplitSeq(out, "\n") {
		var env struct {
			Payload []byte `json:"payload"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &env) != nil {
			continue
		}
		var st signing.Statement
		if err := json.Unmarshal(env.Payload, &st); err != nil {
			t.Fatalf("verified payload is no statement: %v", err)
		}
		types = append(types, st.PredicateType)
	}
	return types
}

// pemBodyLines are the base64 lines of a PEM file, the key material itself.
func pemBodyLines(p []byte) []string {
	var lines []string
	for line := range strings.SplitSeq(string(p), "\n") {
		if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestProvenanceStatement(t *testing.T) {
	img, err := name.NewDigest("registry.example.test/shop/api@sha256:" + strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := provenance().Statement(img)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Type          string `json:"_type"`
		PredicateType string `json:"predicateType"`
		Subject       []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		Predicate struct {
			BuildDefinition struct {
				BuildType          string `json:"buildType"`
				ExternalParameters struct {
					Source     map[string]string `json:"source"`
					Parameters map[string]string `json:"parameters"`
				} `json:"externalParameters"`
				ResolvedDependencies []struct {
					URI    string            `json:"uri"`
					Digest map[string]string `json:"digest"`
				} `json:"resolvedDependencies"`
			} `json:"buildDefinition"`
			RunDetails struct {
				Builder  struct{ ID string } `json:"builder"`
				Metadata struct {
					InvocationID string `json:"invocationId"`
					StartedOn    string `json:"startedOn"`
					FinishedOn   string `json:"finishedOn"`
				} `json:"metadata"`
			} `json:"runDetails"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	p := provenance()
	check := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}
	check("_type", got.Type, "https://in-toto.io/Statement/v1")
	check("predicateType", got.PredicateType, "https://slsa.dev/provenance/v1")
	check("subject name", got.Subject[0].Name, "registry.example.test/shop/api")
	check("subject digest", got.Subject[0].Digest["sha256"], strings.Repeat("cd", 32))
	bd := got.Predicate.BuildDefinition
	check("buildType", bd.BuildType, signing.DefaultBuildType)
	check("source repository", bd.ExternalParameters.Source["repository"], p.SourceRepo)
	check("source revision", bd.ExternalParameters.Source["revision"], p.SourceRevision)
	check("parameter target", bd.ExternalParameters.Parameters["target"], "runtime")
	if len(bd.ResolvedDependencies) != 2 {
		t.Fatalf("resolvedDependencies = %+v, want source and base image", bd.ResolvedDependencies)
	}
	check("source dependency", bd.ResolvedDependencies[0].URI, "git+"+p.SourceRepo+"@"+p.SourceRevision)
	check("source commit", bd.ResolvedDependencies[0].Digest["gitCommit"], p.SourceRevision)
	check("base image", bd.ResolvedDependencies[1].URI, p.BaseImage)
	check("base digest", bd.ResolvedDependencies[1].Digest["sha256"], strings.Repeat("ab", 32))
	rd := got.Predicate.RunDetails
	check("builder id", rd.Builder.ID, p.BuilderID)
	check("invocationId", rd.Metadata.InvocationID, p.PipelineURL)
	check("startedOn", rd.Metadata.StartedOn, "2025-05-01T10:00:00Z")
	check("finishedOn", rd.Metadata.FinishedOn, "2025-05-01T10:03:00Z")

	bad := []struct {
		name string
		edit func(*signing.Provenance)
	}{
		{"no builder", func(p *signing.Provenance) { p.BuilderID = "" }},
		{"bad base digest", func(p *signing.Provenance) { p.BaseDigest = "sha256:nothex" }},
		{"finished first", func(p *signing.Provenance) { p.FinishedOn = p.StartedOn.Add(-1) }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			p := provenance()
			tt.edit(&p)
			if _, err := p.Statement(img); exit.ClassOf(err) != exit.Usage {
				t.Errorf("Statement: %v, want a usage error", err)
			}
		})
	}
}

func TestAttestRejectsForeignStatement(t *testing.T) {
	p := platform.Get(t)
	key := newTestKey(t).load(t)
	img := pushImage(t, p.Registry.Host, "signing/foreign")
	otherImg := pushImage(t, p.Registry.Host, "signing/foreign-other")
	st, err := provenance().Statement(otherImg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Attest(t.Context(), key, img, st, signing.Options{}); exit.ClassOf(err) != exit.Usage {
		t.Fatalf("Attest of a statement about another image: %v, want a usage error", err)
	}
}

func TestMissingImage(t *testing.T) {
	p := platform.Get(t)
	key := newTestKey(t).load(t)
	img, err := name.NewDigest(p.Registry.Host+"/signing/absent@sha256:"+strings.Repeat("0", 64), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	_, err = signing.Sign(t.Context(), key, img, signing.Options{})
	if exit.ClassOf(err) != exit.Usage || !strings.Contains(err.Error(), "no such image") {
		t.Fatalf("Sign of a missing image: %v, want a usage error saying so", err)
	}
}

// TestRefusedWrites puts a proxy in front of the real registry that refuses
// some writes, and checks the error class and that nothing half-written is
// left: no signature manifest appears unless all its blobs were accepted.
func TestRefusedWrites(t *testing.T) {
	p := platform.Get(t)
	tests := []struct {
		name      string
		refuse    func(*http.Request) bool
		status    int
		wantClass exit.Class
	}{
		{"blob upload denied", isBlobUpload, http.StatusForbidden, exit.Usage},
		{"blob upload unsupported", isBlobUpload, http.StatusMethodNotAllowed, exit.Infra},
		{"manifest unauthorized", isManifestPut, http.StatusUnauthorized, exit.Usage},
		{"manifest unsupported", isManifestPut, http.StatusMethodNotAllowed, exit.Infra},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := refusingProxy(t, p.Registry.Host, tt.refuse, tt.status)
			repo := fmt.Sprintf("signing/refused%d", i)
			direct := pushImage(t, p.Registry.Host, repo)
			img, err := name.NewDigest(proxy+"/"+repo+"@"+direct.DigestStr(), name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			key := newTestKey(t).load(t)
			for _, format := range []signing.Format{signing.FormatSigTag, signing.FormatBundle} {
				_, err = signing.Sign(t.Context(), key, img, signing.Options{Format: format})
				if err == nil {
					t.Fatalf("%s: Sign through a registry refusing writes succeeded", format)
				}
				if c := exit.ClassOf(err); c != tt.wantClass {
					t.Errorf("%s: class %v, want %v: %v", format, c, tt.wantClass, err)
				}
			}
			sigTag := direct.Context().Tag(strings.Replace(direct.DigestStr(), ":", "-", 1) + ".sig")
			if _, err := remote.Head(sigTag, remote.WithContext(t.Context())); !isNotFound(err) {
				t.Errorf("HEAD %s after a refused write: %v, want 404", sigTag, err)
			}
		})
	}
}

func isBlobUpload(r *http.Request) bool {
	return (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) && strings.Contains(r.URL.Path, "/blobs/uploads/")
}

func isManifestPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/")
}

// refusingProxy forwards to the registry at host on 127.0.0.1, answering
// refused requests itself with status and a registry error body.
func refusingProxy(t *testing.T, host string, refuse func(*http.Request) bool, status int) string {
	t.Helper()
	return stubProxy(t, host, refuse, status, "application/json", fmt.Sprintf(`{"errors":[{"code":"DENIED","message":"refused by the test proxy (%d)"}]}`, status))
}

// answeringProxy forwards to the registry at host on 127.0.0.1, answering
// the requests match accepts itself with 200 and body.
func answeringProxy(t *testing.T, host string, match func(*http.Request) bool, contentType, body string) string {
	t.Helper()
	return stubProxy(t, host, match, http.StatusOK, contentType, body)
}

func stubProxy(t *testing.T, host string, match func(*http.Request) bool, status int, contentType, body string) string {
	t.Helper()
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestKMSPlugin signs through sigstore's KMS plugin protocol with a
// test-only plugin binary and checks the result with the cosign CLI.
func TestKMSPlugin(t *testing.T) {
	goBin := testenv.RequireTool(t, "go")
	binDir := t.TempDir()
	build := execCommand(t, goBin, "build", "-o", filepath.Join(binDir, "sigstore-kms-testonly"), "./testdata/sigstore-kms-testonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test-only KMS plugin: %v\n%s", err, out)
	}
	t.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	keyDir := t.TempDir()
	keyFile := filepath.Join(keyDir, "test-only-kms-key.pem")
	pubFile := filepath.Join(keyDir, "test-only-kms-key.pub")
	priv, pub := plainTestKey(t)
	writeFile(t, keyFile, priv)
	writeFile(t, pubFile, pub)

	key, err := signing.LoadKey(t.Context(), signing.KeySource{KMS: "testonly://" + keyFile})
	if err != nil {
		t.Fatal(err)
	}
	got, err := key.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	if !samePublicKey(t, got, pub) {
		t.Fatalf("KMS public key = %s, want %s", got, pub)
	}

	p := platform.Get(t)
	img := pushImage(t, p.Registry.Host, "signing/kms")
	if _, err := signing.Sign(t.Context(), key, img, signing.Options{}); err != nil {
		t.Fatal(err)
	}
	st, err := provenance().Statement(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.Attest(t.Context(), key, img, st, signing.Options{}); err != nil {
		t.Fatal(err)
	}
	cosignVerify(t, pubFile, img)
	cosignVerifyAttestation(t, pubFile, img)

	// A key the plugin cannot open is the KMS's failure, not a missing plugin.
	_, err = signing.LoadKey(t.Context(), signing.KeySource{KMS: "testonly://" + filepath.Join(keyDir, "absent.pem")})
	if exit.ClassOf(err) != exit.Infra {
		t.Errorf("LoadKey of a key the KMS lacks: %v, want an infrastructure error", err)
	}
}

// TestFormattingRevealsNothing prints keys and key sources every way fmt
// can and looks for the password and the key material.
func TestFormattingRevealsNothing(t *testing.T) {
	k := newTestKey(t)
	src := signing.KeySource{PEM: k.PEM, Password: []byte(testOnlyPassword)}
	key, err := signing.LoadKey(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	secrets := append(pemBodyLines(k.PEM), testOnlyPassword)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{src, &src, key, *key} {
			out := fmt.Sprintf(verb, v)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("fmt %s of %T reveals %q: %s", verb, v, s, out)
				}
			}
			if strings.Contains(out, "D:") || strings.Contains(out, "PrivateKey") {
				t.Errorf("fmt %s of %T dumps the private key: %s", verb, v, out)
			}
		}
	}
}
