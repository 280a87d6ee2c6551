package gitrepo_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/gitrepo"
)

// A remote that accepts the connection and never answers does not hold
// the job: the command is given up on after its bound, as an
// infrastructure error that says so.
func TestSilentRemoteTimesOut(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 64) // connections held open, never answered
	t.Cleanup(func() {
		l.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c:
			default:
				c.Close()
			}
		}
	}()
	url := "http://" + l.Addr().String() + "/vendor-x/dsf.git"
	_, err = gitrepo.Open(t.Context(), url, "master", t.TempDir()+"/repo", gitrepo.Options{CommandTimeout: 2 * time.Second})
	if err == nil || exit.ClassOf(err) != exit.Infra || !strings.Contains(err.Error(), "did not finish within 2s") {
		t.Fatalf("clone of a silent remote: %v (class %v)", err, exit.ClassOf(err))
	}
}
