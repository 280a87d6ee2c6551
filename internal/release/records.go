package release

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/report"
)

// Output names in a result file. The dotenv file carries them as
// STEPPER_<NAME> (image-ref becomes STEPPER_IMAGE_REF); CI templates and the
// Jenkins library read them under those names, so they never change.
const (
	OutImageRef     = "image-ref"
	OutTags         = "tags"
	OutSignature    = "signature"
	OutAttestation  = "attestation"
	OutBuilder      = "builder"
	OutBaseImage    = "base-image"
	OutBaseDigest   = "base-digest"
	OutBuildParams  = "build-parameters"
	OutBuildStarted = "build-started"
	OutBuildEnded   = "build-finished"
	OutTagged       = "tagged"

	OutChartVersion     = "chart-version"
	OutVia              = "via"
	OutBranch           = "branch"
	OutCommit           = "commit"
	OutMergeRequest     = "merge-request"
	OutNoOp             = "noop"
	OutSmokeAttestation = "smoke-attestation"
	OutChecks           = "checks"
	OutFrom             = "from"
	OutRolledBackFrom   = "rolled-back-from"
	OutReason           = "reason"
	OutJenkinsBuild     = "jenkins-build"
	OutPromotedBy       = "promoted-by"
	OutRestored         = "restored"
)

// Built is what build-sign-push made: the image pinned by digest (Image.Tag
// is its first tag), its tags, signature and provenance.
type Built struct {
	Image                  Ref
	Tags                   []string
	Signature, Attestation string
	Builder                string
	BaseImage, BaseDigest  string
	Parameters             map[string]string
	Started, Finished      time.Time
	// Tagged is true once the tags point at the digest.
	Tagged bool
}

// Landing is how a change reached an environment's desired state.
type Landing struct {
	// Via is commit, merge-request or jenkins.
	Via          string
	Branch       string
	Commit       string
	MergeRequest string
	// NoOp says the desired state already held the change.
	NoOp bool
}

// Deployed is a release written into an environment's desired state.
type Deployed struct {
	Env, App     string
	Image        Ref
	ChartVersion string
	Landing
}

// SmokeTested is a release proven healthy in an environment; Attestation
// names the signed evidence attached to the digest.
type SmokeTested struct {
	Env, App    string
	Image       Ref
	Checks      []string
	Attestation string
}

// Promoted is a release carried from one environment to the next.
type Promoted struct {
	From, Env, App string
	Image          Ref
	ChartVersion   string
	Landing
}

// RolledBack is an environment's app returned to an earlier release and
// held there.
type RolledBack struct {
	Env, App string
	From, To Ref
	Reason   string
	Landing
}

// Encode writes b into r.
func (b Built) Encode(r *report.Result) {
	if b.Image.Digest == "" {
		return
	}
	r.Image, r.Digest = b.Image.Repository, b.Image.Digest
	o := outputs(r)
	o.set(OutImageRef, b.Image.Pinned())
	o.set(OutTags, strings.Join(b.Tags, ","))
	o.set(OutSignature, b.Signature)
	o.set(OutAttestation, b.Attestation)
	o.set(OutBuilder, b.Builder)
	o.set(OutBaseImage, b.BaseImage)
	o.set(OutBaseDigest, b.BaseDigest)
	if len(b.Parameters) > 0 {
		j, _ := json.Marshal(b.Parameters)
		o.set(OutBuildParams, string(j))
	}
	o.time(OutBuildStarted, b.Started)
	o.time(OutBuildEnded, b.Finished)
	o.set(OutTagged, strconv.FormatBool(b.Tagged))
}

// DecodeBuilt reads what build-sign-push recorded in the result file at
// path (named in errors).
func DecodeBuilt(path string, r *report.Result) (*Built, error) {
	if r.Step != "build-sign-push" || r.Status != report.Succeeded {
		return nil, exit.Usagef("%s: step %q ended %q; want a succeeded build-sign-push result", path, r.Step, r.Status)
	}
	img, err := imageOutput(path, r)
	if err != nil {
		return nil, err
	}
	b := &Built{
		Image: img, Signature: r.Outputs[OutSignature], Attestation: r.Outputs[OutAttestation],
		Builder: r.Outputs[OutBuilder], BaseImage: r.Outputs[OutBaseImage], BaseDigest: r.Outputs[OutBaseDigest],
		Tagged: r.Outputs[OutTagged] == "true",
	}
	if t := r.Outputs[OutTags]; t != "" {
		b.Tags = strings.Split(t, ",")
		b.Image.Tag = b.Tags[0]
	}
	if p := r.Outputs[OutBuildParams]; p != "" {
		if err := json.Unmarshal([]byte(p), &b.Parameters); err != nil {
			return nil, exit.Usagef("%s: outputs.%s is not a JSON object: %v", path, OutBuildParams, err)
		}
	}
	b.Started, _ = time.Parse(time.RFC3339, r.Outputs[OutBuildStarted])
	b.Finished, _ = time.Parse(time.RFC3339, r.Outputs[OutBuildEnded])
	return b, nil
}

// ImageFromResult is the image a succeeded step's result file names, pinned
// by digest: for a build-sign-push result, with its first tag. It is how
// validate, deploy and smoke-test take the image of an earlier job.
func ImageFromResult(path string, r *report.Result) (Ref, error) {
	if r.Status != "" && r.Status != report.Succeeded {
		return Ref{}, exit.Usagef("%s: the %s step ended %q; take the image from a succeeded step", path, r.Step, r.Status)
	}
	img, err := imageOutput(path, r)
	if err != nil {
		return Ref{}, err
	}
	if img.Tag == "" {
		if tags := r.Outputs[OutTags]; tags != "" {
			img.Tag, _, _ = strings.Cut(tags, ",")
		}
	}
	return img, nil
}

func imageOutput(path string, r *report.Result) (Ref, error) {
	s := r.Outputs[OutImageRef]
	if s == "" {
		return Ref{}, exit.Usagef("%s: no outputs.%s; give the result file of a build-sign-push (or deploy) run", path, OutImageRef)
	}
	img, err := ParseRef(s)
	if err != nil || img.Digest == "" {
		return Ref{}, exit.Usagef("%s: outputs.%s %q is not an image pinned by digest", path, OutImageRef, s)
	}
	return img, nil
}

// Encode writes d into r.
func (d Deployed) Encode(r *report.Result) {
	r.Env, r.App = d.Env, d.App
	encodeImage(r, d.Image)
	o := outputs(r)
	o.set(OutChartVersion, d.ChartVersion)
	d.Landing.encode(o)
}

// Encode writes s into r.
func (s SmokeTested) Encode(r *report.Result) {
	r.Env, r.App = s.Env, s.App
	encodeImage(r, s.Image)
	o := outputs(r)
	o.set(OutSmokeAttestation, s.Attestation)
	o.set(OutChecks, strings.Join(s.Checks, ","))
}

// Encode writes p into r.
func (p Promoted) Encode(r *report.Result) {
	r.Env, r.App = p.Env, p.App
	encodeImage(r, p.Image)
	o := outputs(r)
	o.set(OutFrom, p.From)
	o.set(OutChartVersion, p.ChartVersion)
	p.Landing.encode(o)
}

// Encode writes b into r.
func (b RolledBack) Encode(r *report.Result) {
	r.Env, r.App = b.Env, b.App
	encodeImage(r, b.To)
	o := outputs(r)
	if !b.From.IsZero() {
		o.set(OutRolledBackFrom, b.From.String())
	}
	o.set(OutReason, b.Reason)
	b.Landing.encode(o)
}

func (l Landing) encode(o outs) {
	o.set(OutVia, l.Via)
	o.set(OutBranch, l.Branch)
	o.set(OutCommit, l.Commit)
	o.set(OutMergeRequest, l.MergeRequest)
	o.set(OutNoOp, strconv.FormatBool(l.NoOp))
}

func encodeImage(r *report.Result, img Ref) {
	if img.IsZero() {
		return
	}
	r.Image, r.Digest = img.Repository, img.Digest
	outputs(r).set(OutImageRef, img.String())
}

type outs map[string]string

func outputs(r *report.Result) outs {
	if r.Outputs == nil {
		r.Outputs = map[string]string{}
	}
	return r.Outputs
}

func (o outs) set(k, v string) {
	if v != "" {
		o[k] = v
	}
}

func (o outs) time(k string, t time.Time) {
	if !t.IsZero() {
		o[k] = t.UTC().Format(time.RFC3339)
	}
}

// String is "env/app image" for logs and messages.
func (d Deployed) String() string { return fmt.Sprintf("%s/%s %s", d.Env, d.App, d.Image) }
