package helm

import (
	"context"
	"errors"
	"fmt"
	"github.com/stepper-cd/stepper/internal/retry"
	"net/http"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/stepper-cd/stepper/internal/exit"
)

// classifyHTTP marks an error from an HTTP request that got no answer:
// cancellation stays as it is, everything else is infrastructure.
func classifyHTTP(op string, err error) error {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case retry.Unreachable(err):
		return exit.Infraf("%s: unreachable; check the URL's host and port, that the server is running "+
			"and that this runner can reach it (proxy, firewall): %w", op, err)
	}
	return exit.Infraf("%s: %w", op, err)
}

// statusError marks an HTTP answer other than 200: the user's to fix for
// 401, 403 and 404, infrastructure for the rest.
func statusError(op, url string, status int, notFoundHint string) error {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return exit.Usagef("%s: %s answered HTTP %d; check the credentials for its host", op, url, status)
	case http.StatusNotFound:
		return exit.Usagef("%s: %s not found (HTTP 404); %s", op, url, notFoundHint)
	}
	return exit.Infraf("%s: %s answered HTTP %d", op, url, status)
}

// classifyOCI marks an error from Helm's registry client.
func classifyOCI(op, host string, err error) error {
	var resp *errcode.ErrorResponse
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case retry.Unreachable(err):
		return exit.Infraf("%s: registry %s is unreachable; check the host and port in the oci:// reference, "+
			"that the registry is running and that this runner can reach it (proxy, firewall): %w", op, host, err)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return exit.Usagef("%s: registry %s refused access: it wants credentials and none were found for %s; "+
			"check the registry credentials for %s: %w", op, host, host, host, err)
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return exit.Usagef("%s: registry %s refused access (HTTP %d); check the registry credentials for %s: %w",
			op, host, resp.StatusCode, host, err)
	case errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound:
		return exit.Usagef("%s: not found in registry %s: %w", op, host, err)
	}
	return exit.Infraf("%s: %w", op, err)
}
