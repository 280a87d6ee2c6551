package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// gzipLayer compresses the uncompressed tar at tarPath once, into
// work+".gz", hashing both sides on the way: the push then streams the
// file as it is. go-containerregistry's tarball layers gzip twice (once for
// the digest, once more for the upload), which is most of a cold push.
// BestSpeed keeps the build fast; the gzip header carries no name and no
// time, so equal tars give equal digests.
func gzipLayer(tarPath, work string, mediaType types.MediaType) (v1.Layer, error) {
	in, err := os.Open(tarPath)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	gzPath := work + ".gz"
	out, err := os.Create(gzPath)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	diffID, digest := sha256.New(), sha256.New()
	counted := &countingWriter{w: io.MultiWriter(out, digest)}
	zw, err := gzip.NewWriterLevel(counted, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(zw, io.TeeReader(in, diffID)); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	if err := out.Close(); err != nil {
		return nil, fmt.Errorf("compress layer: %w", err)
	}
	return &fileLayer{path: gzPath, digest: sum(digest), diffID: sum(diffID), size: counted.n, mediaType: mediaType}, nil
}

func sum(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// fileLayer is a gzipped layer in a file whose digests are already known.
type fileLayer struct {
	path           string
	digest, diffID v1.Hash
	size           int64
	mediaType      types.MediaType
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }

func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
