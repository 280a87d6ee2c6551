package signing

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stepper-cd/stepper/internal/exit"
)

// In-toto and SLSA identifiers.
const (
	// StatementType is the in-toto statement version written and accepted.
	StatementType = "https://in-toto.io/Statement/v1"
	// ProvenancePredicateType is SLSA provenance v1, what cosign
	// verify-attestation --type slsaprovenance1 selects.
	ProvenancePredicateType = "https://slsa.dev/provenance/v1"
	// DefaultBuildType is the buildType of a Provenance that names none: a
	// container image built by stepper build-sign-push.
	DefaultBuildType = "https://github.com/stepper-cd/stepper/buildtypes/container/v1"
)

// Statement is an in-toto v1 statement: claims (the predicate) about
// subjects identified by digest. Only these four fields exist; cosign reads
// statements strictly and rejects unknown top-level fields.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is one artifact a statement is about.
type Subject struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
	// Annotations are claims about the subject; cosign's bundle signatures
	// carry their -a annotations here.
	Annotations map[string]string `json:"annotations,omitempty"`
}

// covers reports whether the statement names d among its subjects.
func (s Statement) covers(d v1.Hash) bool {
	for _, sub := range s.Subject {
		if sub.Digest[d.Algorithm] == d.Hex {
			return true
		}
	}
	return false
}

// Provenance describes how an image was built, in the terms a CI pipeline
// knows. Statement turns it into SLSA provenance v1.
type Provenance struct {
	// BuilderID identifies the trusted builder, e.g. the GitLab runner or
	// Jenkins controller URL with the stepper version. Required.
	BuilderID string
	// BuildType says how to read the parameters; DefaultBuildType if empty.
	BuildType string
	// SourceRepo and SourceRevision name the source that was built: a git
	// URL and a commit.
	SourceRepo, SourceRevision string
	// PipelineURL and JobURL link the CI pipeline and job that built it.
	PipelineURL, JobURL string
	// BaseImage and BaseDigest name the base image the Dockerfile started
	// from; BaseDigest is "sha256:<hex>".
	BaseImage, BaseDigest string
	// Parameters are the build's external parameters (build args, target,
	// Dockerfile path). Never put secrets here: provenance is public.
	Parameters map[string]string
	// StartedOn and FinishedOn bound the build; zero values are left out.
	StartedOn, FinishedOn time.Time
	// InvocationID identifies this run; PipelineURL if empty.
	InvocationID string
	// Unverified names the facts the signer took on trust from an earlier
	// job and could not check (parameters, builder, start and end times of
	// a separate build phase). They are listed in
	// internalParameters.unverified, comma-separated, so a verifier knows
	// which statements only the build job vouches for.
	Unverified []string
}

// The SLSA v1 predicate, reduced to the fields stepper fills.
type slsaPredicate struct {
	BuildDefinition slsaBuildDefinition `json:"buildDefinition"`
	RunDetails      slsaRunDetails      `json:"runDetails"`
}

type slsaBuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   externalParameters   `json:"externalParameters"`
	InternalParameters   map[string]string    `json:"internalParameters,omitempty"`
	ResolvedDependencies []resourceDescriptor `json:"resolvedDependencies,omitempty"`
}

type externalParameters struct {
	Source     *sourceParameter  `json:"source,omitempty"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

type sourceParameter struct {
	Repository string `json:"repository"`
	Revision   string `json:"revision,omitempty"`
}

type resourceDescriptor struct {
	Name   string            `json:"name,omitempty"`
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

type slsaRunDetails struct {
	Builder  slsaBuilder  `json:"builder"`
	Metadata slsaMetadata `json:"metadata"`
}

type slsaBuilder struct {
	ID string `json:"id"`
}

type slsaMetadata struct {
	InvocationID string     `json:"invocationId,omitempty"`
	StartedOn    *time.Time `json:"startedOn,omitempty"`
	FinishedOn   *time.Time `json:"finishedOn,omitempty"`
}

var gitCommit = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// Statement returns the SLSA provenance v1 statement about subject. An
// incomplete or inconsistent Provenance is a usage error.
func (p Provenance) Statement(subject name.Digest) (Statement, error) {
	h, err := v1.NewHash(subject.DigestStr())
	if err != nil {
		return Statement{}, exit.Usagef("provenance for %s: %v", subject, err)
	}
	if p.BuilderID == "" {
		return Statement{}, exit.Usagef("provenance for %s: no builder id", subject)
	}
	if !p.StartedOn.IsZero() && !p.FinishedOn.IsZero() && p.FinishedOn.Before(p.StartedOn) {
		return Statement{}, exit.Usagef("provenance for %s: finished (%s) before it started (%s)", subject, p.FinishedOn.Format(time.RFC3339), p.StartedOn.Format(time.RFC3339))
	}

	def := slsaBuildDefinition{BuildType: p.BuildType}
	if def.BuildType == "" {
		def.BuildType = DefaultBuildType
	}
	if len(p.Parameters) > 0 {
		def.ExternalParameters.Parameters = p.Parameters
	}
	if p.SourceRepo != "" {
		def.ExternalParameters.Source = &sourceParameter{Repository: p.SourceRepo, Revision: p.SourceRevision}
		dep := resourceDescriptor{Name: "source", URI: gitURI(p.SourceRepo, p.SourceRevision)}
		if gitCommit.MatchString(p.SourceRevision) {
			dep.Digest = map[string]string{"gitCommit": p.SourceRevision}
		}
		def.ResolvedDependencies = append(def.ResolvedDependencies, dep)
	}
	if p.BaseImage != "" || p.BaseDigest != "" {
		dep := resourceDescriptor{Name: "base-image", URI: p.BaseImage}
		if p.BaseDigest != "" {
			bh, err := v1.NewHash(p.BaseDigest)
			if err != nil {
				return Statement{}, exit.Usagef("provenance for %s: base image digest %q: %v", subject, p.BaseDigest, err)
			}
			dep.Digest = map[string]string{bh.Algorithm: bh.Hex}
			if dep.URI == "" {
				dep.URI = bh.String()
			}
		}
		def.ResolvedDependencies = append(def.ResolvedDependencies, dep)
	}
	internal := map[string]string{}
	if p.PipelineURL != "" {
		internal["pipelineUrl"] = p.PipelineURL
	}
	if p.JobURL != "" {
		internal["jobUrl"] = p.JobURL
	}
	if len(p.Unverified) > 0 {
		internal["unverified"] = strings.Join(slices.Sorted(slices.Values(p.Unverified)), ",")
	}
	if len(internal) > 0 {
		def.InternalParameters = internal
	}

	meta := slsaMetadata{InvocationID: p.InvocationID}
	if meta.InvocationID == "" {
		meta.InvocationID = p.PipelineURL
	}
	if !p.StartedOn.IsZero() {
		t := p.StartedOn.UTC()
		meta.StartedOn = &t
	}
	if !p.FinishedOn.IsZero() {
		t := p.FinishedOn.UTC()
		meta.FinishedOn = &t
	}

	predicate, err := json.Marshal(slsaPredicate{
		BuildDefinition: def,
		RunDetails:      slsaRunDetails{Builder: slsaBuilder{ID: p.BuilderID}, Metadata: meta},
	})
	if err != nil {
		return Statement{}, fmt.Errorf("provenance for %s: %w", subject, err)
	}
	return Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: subject.Context().Name(), Digest: map[string]string{h.Algorithm: h.Hex}}},
		PredicateType: ProvenancePredicateType,
		Predicate:     predicate,
	}, nil
}

// gitURI is the SLSA convention for a git source: git+<url>@<revision>.
func gitURI(repo, revision string) string {
	if !strings.HasPrefix(repo, "git+") {
		repo = "git+" + repo
	}
	if revision == "" {
		return repo
	}
	return repo + "@" + revision
}
