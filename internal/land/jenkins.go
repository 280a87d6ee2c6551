package land

import (
	"context"
	"io"

	"github.com/stepper-cd/stepper/internal/jenkins"
	"github.com/stepper-cd/stepper/internal/logging"
)

// Jobs runs Jenkins jobs: internal/jenkins.
type Jobs interface {
	Trigger(ctx context.Context, job string, params map[string]string) (string, error)
	WaitStart(ctx context.Context, queueURL string) (*jenkins.Build, error)
	Follow(ctx context.Context, buildURL string, w io.Writer) (*jenkins.Build, error)
}

// RunJob is the jenkins route: it triggers job with params once, waits
// for the queue item to become a build, streams the build's console into
// console (nil discards it) and returns the finished build. A build that
// did not end SUCCESS is an error naming the job, the build and its
// result; so is a queue item cancelled before it started.
func RunJob(ctx context.Context, j Jobs, job string, params map[string]string, console io.Writer) (*jenkins.Build, error) {
	log := logging.From(ctx)
	queue, err := j.Trigger(ctx, job, params)
	if err != nil {
		return nil, err
	}
	log.Info().Str("job", job).Str("queue", queue).Msg("job queued")
	build, err := j.WaitStart(ctx, queue)
	if err != nil {
		return nil, err
	}
	log.Info().Str("job", job).Str("build", build.URL).Msg("job started; its console follows")
	if console == nil {
		console = io.Discard
	}
	done, err := j.Follow(ctx, build.URL, console)
	if err != nil {
		return build, err
	}
	return done, jenkins.ResultError(job, done)
}
