package registry

import (
	"context"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/retry"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/stepper-cd/stepper/internal/exit"
)

// classify wraps err from an operation on repo with its exit class and a
// message that says what to check. Registry errors carry status codes, error
// codes and URLs, never credentials, so err itself may be shown.
func classify(op string, repo name.Repository, err error) error {
	host := repo.RegistryStr()
	var terr *transport.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case retry.Unreachable(err):
		return exit.Infraf("%s: registry %s is unreachable; check the host name and port in the image reference, "+
			"that the registry is running and that this runner can reach it (proxy, firewall): %w", op, host, err)
	case errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden):
		return exit.Usagef("%s: registry %s refused access to %s (HTTP %d); check registry.credentials, "+
			"CI_REGISTRY_USER and CI_REGISTRY_PASSWORD, or the docker config for %s, and that the account may "+
			"push and pull there: %w", op, host, repo.RepositoryStr(), terr.StatusCode, host, err)
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound:
		return exit.Usagef("%s: not found in %s: %w", op, repo, err)
	case errors.As(err, &terr) && retryableStatus(&http.Response{StatusCode: terr.StatusCode}):
		return exit.Infraf("%s: registry %s kept failing (HTTP %d) after retries: %w", op, host, terr.StatusCode, err)
	}
	return exit.Infraf("%s: %w", op, err)
}
