package config

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

var (
	errTooLarge   = errors.New("the file is larger than 1 MiB")
	errIsDir      = errors.New("it is a directory")
	errNotRegular = errors.New("it is not a regular file or a pipe")
)

// readFile reads at most maxFileSize bytes of name. Opening a FIFO blocks
// until a writer comes, and no system call here can be interrupted, so the
// read runs in a goroutine and readFile returns as soon as ctx is done: a
// pipe given as the config must not hold the process past SIGTERM. The
// abandoned goroutine ends when the process does.
func readFile(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1) // buffered: a late reader must not leak a blocked send
	go func() {
		data, err := readLimited(name)
		done <- result{data, err}
	}()
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("read %s: %w", name, ctx.Err())
	case r := <-done:
		return r.data, r.err
	}
}

func readLimited(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		switch mode := fi.Mode(); {
		case mode.IsDir():
			return nil, errIsDir
		case !mode.IsRegular() && mode&(os.ModeNamedPipe|os.ModeCharDevice) == 0:
			return nil, errNotRegular
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, errTooLarge
	}
	return data, nil
}
