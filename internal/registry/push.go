package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/stream"

	"github.com/stepper-cd/stepper/internal/logging"
)

// Outcome is what a push did with one blob.
type Outcome int

// The outcomes of a blob, from the cheapest.
const (
	// Existed: the repository had the blob already; nothing was sent.
	Existed Outcome = iota + 1
	// Mounted: the registry linked the blob from another repository it
	// holds; nothing was sent.
	Mounted
	// Uploaded: the bytes were sent.
	Uploaded
)

func (o Outcome) String() string {
	switch o {
	case Existed:
		return "existed"
	case Mounted:
		return "mounted"
	case Uploaded:
		return "uploaded"
	}
	return "unknown"
}

// LayerResult is what a push did with one blob: a layer or the config.
type LayerResult struct {
	Digest  v1.Hash
	Size    int64
	Outcome Outcome
	// Sent is the number of bytes of this blob sent, retried attempts
	// included; 0 unless Outcome is Uploaded.
	Sent int64
	// Duration runs from the first request about the blob to its outcome;
	// 0 when the blob needed no request (the manifest was already there).
	Duration time.Duration
}

// Pushed is the account of one push.
type Pushed struct {
	// Ref is the image by digest in the repository pushed to.
	Ref name.Digest
	// Layers are the image's layers, in manifest order.
	Layers []LayerResult
	// Config is the image's config blob.
	Config LayerResult
	// BytesUploaded counts the blob bytes sent (layers and config, retried
	// attempts included); manifests are not counted. An unchanged image
	// pushed again sends 0.
	BytesUploaded int64
	// Duration is the time the push took.
	Duration time.Duration
}

// Push uploads img to repo ("host/path", no tag or digest) and stores its
// manifest by digest; it never sets a tag (see Tag). Blobs the repository
// has are skipped, blobs of an image fetched with Image from another
// repository of the same registry are mounted, the rest are uploaded
// Options.Jobs at a time. Failures worth retrying are retried by the
// Backoff policy.
func (c *Client) Push(ctx context.Context, repo string, img v1.Image) (*Pushed, error) {
	r, err := c.repository(repo)
	if err != nil {
		return nil, err
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("push to %s: image digest: %w", r, err)
	}
	ref := r.Digest(digest.String())
	rec, err := newRecorder(img, c.opts.Progress)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", ref, err)
	}
	ctx = context.WithValue(ctx, recorderKey{}, rec)
	if err := remote.Write(ref, &countingImage{Image: img, rec: rec}, c.RemoteOptions(ctx)...); err != nil {
		return nil, classify(fmt.Sprintf("push %s", ref), r, err)
	}
	pushed := rec.result(ref)
	logging.From(ctx).Debug().Str(logging.Image, r.String()).Str(logging.Digest, digest.String()).
		Int64("bytes", pushed.BytesUploaded).Int64(logging.Duration, pushed.Duration.Milliseconds()).Msg("pushed")
	return pushed, nil
}

type recorderKey struct{}

// recorder keeps the account of one push. Outcomes come from the requests
// the observer sees; bytes from the counting layers, which know their
// digest while the upload requests do not.
type recorder struct {
	start    time.Time
	progress Progress
	order    []v1.Hash // layers in manifest order, then the config
	sent     atomic.Int64

	mu    sync.Mutex
	blobs map[v1.Hash]*blobState
}

type blobState struct {
	size    int64
	config  bool
	sent    atomic.Int64
	first   time.Time
	outcome Outcome
	took    time.Duration
}

func newRecorder(img v1.Image, progress Progress) (*recorder, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	rec := &recorder{start: time.Now(), progress: progress, blobs: map[v1.Hash]*blobState{}}
	for _, d := range m.Layers {
		if _, dup := rec.blobs[d.Digest]; !dup {
			rec.blobs[d.Digest] = &blobState{size: d.Size}
		}
		rec.order = append(rec.order, d.Digest)
	}
	if _, dup := rec.blobs[m.Config.Digest]; !dup {
		rec.blobs[m.Config.Digest] = &blobState{size: m.Config.Size, config: true}
	}
	rec.order = append(rec.order, m.Config.Digest)
	return rec, nil
}

func (r *recorder) blob(h v1.Hash) *blobState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobs[h]
}

// touch notes the first request about a blob.
func (r *recorder) touch(h v1.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b := r.blobs[h]; b != nil && b.first.IsZero() {
		b.first = time.Now()
	}
}

// wrote counts n bytes of blob h read by the transport to send them.
func (r *recorder) wrote(h v1.Hash, n int) {
	b := r.blob(h)
	if b == nil || n == 0 {
		return
	}
	r.sent.Add(int64(n))
	sent := b.sent.Add(int64(n))
	if r.progress != nil {
		r.progress.Layer(LayerEvent{Digest: h, Size: b.size, Config: b.config, Sent: sent})
	}
}

// finish records the outcome of blob h, once. A blob whose bytes were sent
// counts as uploaded even when the registry is found to have it only on a
// retry: the earlier attempt stored it and its answer was lost.
func (r *recorder) finish(h v1.Hash, o Outcome) {
	r.mu.Lock()
	b := r.blobs[h]
	if b == nil || b.outcome != 0 {
		r.mu.Unlock()
		return
	}
	if b.sent.Load() > 0 {
		o = Uploaded
	}
	b.outcome = o
	if !b.first.IsZero() {
		b.took = time.Since(b.first)
	}
	ev := LayerEvent{Digest: h, Size: b.size, Config: b.config, Sent: b.sent.Load(), Done: true, Outcome: o, Duration: b.took}
	r.mu.Unlock()
	if r.progress != nil {
		r.progress.Layer(ev)
	}
}

// result is the account of a push that succeeded. Blobs that saw no
// request were skipped because the manifest, and so every blob it names,
// was already in the repository.
func (r *recorder) result(ref name.Digest) *Pushed {
	for _, h := range r.order {
		r.finish(h, Existed)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := &Pushed{Ref: ref, BytesUploaded: r.sent.Load(), Duration: time.Since(r.start)}
	for i, h := range r.order {
		b := r.blobs[h]
		lr := LayerResult{Digest: h, Size: b.size, Outcome: b.outcome, Sent: b.sent.Load(), Duration: b.took}
		if i == len(r.order)-1 {
			p.Config = lr
		} else {
			p.Layers = append(p.Layers, lr)
		}
	}
	return p
}

// observer watches the requests of a push (found through the request's
// context) for the answers that decide a blob's outcome:
//
//	HEAD /v2/<name>/blobs/<digest>            200  existed
//	POST /v2/<name>/blobs/uploads/?mount=<d>  201  mounted
//	PUT  <upload session>?digest=<d>          201  uploaded
//
// It sits above the retrying transport, so it sees each request's final
// answer.
type observer struct{ next http.RoundTripper }

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	rec, _ := req.Context().Value(recorderKey{}).(*recorder)
	if rec == nil {
		return o.next.RoundTrip(req)
	}
	h, outcome, want := blobRequest(req)
	if outcome != 0 {
		rec.touch(h)
	}
	resp, err := o.next.RoundTrip(req)
	if err == nil && outcome != 0 && resp.StatusCode == want {
		rec.finish(h, outcome)
	}
	return resp, err
}

// blobRequest recognises the requests of the table on observer: the blob,
// the outcome a success means and the status of that success.
func blobRequest(req *http.Request) (v1.Hash, Outcome, int) {
	path, q := req.URL.Path, req.URL.Query()
	var digest string
	var outcome Outcome
	var want int
	switch {
	case req.Method == http.MethodHead && strings.Contains(path, "/blobs/sha256:"):
		digest, outcome, want = path[strings.LastIndex(path, "/")+1:], Existed, http.StatusOK
	case req.Method == http.MethodPost && strings.HasSuffix(path, "/blobs/uploads/") && q.Get("mount") != "":
		digest, outcome, want = q.Get("mount"), Mounted, http.StatusCreated
	case req.Method == http.MethodPut && strings.Contains(path, "/blobs/uploads/") && q.Get("digest") != "":
		digest, outcome, want = q.Get("digest"), Uploaded, http.StatusCreated
	default:
		return v1.Hash{}, 0, 0
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return v1.Hash{}, 0, 0
	}
	return h, outcome, want
}

// countingImage is img with layers that count the bytes read from them,
// which go-containerregistry reads only to send them. Everything else,
// the manifest above all, is img's own.
type countingImage struct {
	v1.Image
	rec *recorder
}

func (i *countingImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for n, l := range ls {
		out[n] = i.count(l)
	}
	return out, nil
}

func (i *countingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return i.count(l), nil
}

// ConfigLayer is found by partial.ConfigLayer, which the pusher uses.
func (i *countingImage) ConfigLayer() (v1.Layer, error) {
	l, err := partial.ConfigLayer(i.Image)
	if err != nil {
		return nil, err
	}
	return i.count(l), nil
}

// count wraps l, keeping what the pusher looks for: a MountableLayer stays
// one, so it is still mounted; a streaming layer is left alone, because its
// digest is unknown until it has been read (its bytes are not counted).
func (i *countingImage) count(l v1.Layer) v1.Layer {
	switch l := l.(type) {
	case *stream.Layer:
		return l
	case *remote.MountableLayer:
		return &remote.MountableLayer{Layer: &countingLayer{Layer: l.Layer, rec: i.rec}, Reference: l.Reference}
	}
	return &countingLayer{Layer: l, rec: i.rec}
}

type countingLayer struct {
	v1.Layer
	rec *recorder
}

func (l *countingLayer) Compressed() (io.ReadCloser, error) {
	h, err := l.Digest()
	if err != nil {
		return nil, err
	}
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReader{ReadCloser: rc, count: func(n int) { l.rec.wrote(h, n) }}, nil
}

type countingReader struct {
	io.ReadCloser
	count func(int)
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.count(n)
	return n, err
}
