package jenkins

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/stepper-cd/stepper/internal/exit"
	"github.com/stepper-cd/stepper/internal/logging"
	"github.com/stepper-cd/stepper/internal/retry"
)

// Cause is one reason Jenkins gives for a build, as its CauseAction lists it.
type Cause struct {
	Class            string // _class, such as "hudson.model.Cause$UserIdCause"
	ShortDescription string // "Started by user Alice"
	// UserID and UserName are set for a UserIdCause.
	UserID, UserName string
	// UpstreamProject, UpstreamBuild and UpstreamURL are set for an
	// UpstreamCause and its kin (a RebuildCause); the URL is relative to
	// Jenkins' root, "job/platform/job/build/".
	UpstreamProject string
	UpstreamBuild   int
	UpstreamURL     string
}

// Build is one run of a job.
type Build struct {
	Number   int
	URL      string // absolute, ending in a slash, as Jenkins gives it
	Building bool
	// Result is "SUCCESS", "UNSTABLE", "FAILURE", "ABORTED" or
	// "NOT_BUILT"; empty while the build runs.
	Result      string
	Description string
	Causes      []Cause
	// Parameters are the build's parameter values, for showing only:
	// booleans and numbers are written out, password values are not.
	Parameters map[string]string
}

// ErrCancelled is the error of a queue item that was cancelled before its
// build started.
var ErrCancelled = errors.New("the queue item was cancelled before its build started")

// buildTree limits api/json to what Build holds. Jenkins lists every action
// of a build, most of them empty ({}) under a tree.
const buildTree = "number,url,building,result,description," +
	"actions[_class,causes[_class,shortDescription,userId,userName,upstreamProject,upstreamBuild,upstreamUrl]," +
	"parameters[name,value]]"

// maxConsoleChunk bounds one read of the console. progressiveText answers
// with everything from start, which after a long silence can be a lot.
const maxConsoleChunk = 32 << 20

// Trigger starts job with params through buildWithParameters and returns
// the URL of its queue item. Jenkins folds a request into a queue item that
// waits with the same parameters; the URL is then that item's.
//
// The POST is sent once: were its answer lost, sending it again could
// start a second build.
func (c *Client) Trigger(ctx context.Context, job string, params map[string]string) (string, error) {
	if strings.Trim(job, "/") == "" {
		return "", exit.Usagef("jenkins: no job to trigger; name the job, folders separated by / (platform/promote-prod)")
	}
	cl := call{
		op:   "jenkins: trigger job " + job,
		perm: "Job/Build on the job",
		notFound: fmt.Sprintf("job %q does not exist, or jenkins.user may not see it; check the job's full name, "+
			"with folders separated by /, as in platform/promote-prod", job),
	}
	form := url.Values{}
	for name, value := range params {
		form.Set(name, value)
	}
	resp, err := c.post(ctx, cl, c.jobURL(job, "buildWithParameters"), form)
	if err != nil {
		return "", err
	}
	defer drain(resp)
	switch code := resp.StatusCode; {
	case code == http.StatusCreated:
	case code == http.StatusConflict:
		return "", exit.Usagef("%s: Jenkins will not build the job (HTTP 409, not buildable); enable the job in Jenkins", cl.op)
	case code >= 500:
		// A proxy's 502 or 504 may come after Jenkins queued the build.
		// Jenkins itself answers 500 to a job without parameters.
		return "", exit.Infraf("%s: Jenkins failed (HTTP %d %s); the build may have been queued anyway, so look at the "+
			"job in Jenkins before you run this again. Check too that the job takes parameters: stepper starts it "+
			"with buildWithParameters", cl.op, code, http.StatusText(code))
	case code >= 200 && code < 300:
		return "", exit.Infraf("%s: Jenkins answered HTTP %d without a queue item, where Jenkins 2 answers 201 Created; "+
			"check that jenkins.url is Jenkins itself", cl.op, code)
	default:
		return "", statusError(cl, resp)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", exit.Infraf("%s: Jenkins queued the build but named no queue item (no Location header); "+
			"follow the build in Jenkins", cl.op)
	}
	queueURL, err := c.resolve("queue item", loc.String())
	if err != nil {
		return "", err
	}
	// Parameter names only: values may be secret.
	logging.From(ctx).Debug().Str("job", job).Strs("parameters", slices.Sorted(maps.Keys(params))).
		Str("queue", queueURL).Msg("jenkins: build queued")
	return queueURL, nil
}

// WaitStart watches the queue item at queueURL until its build starts, and
// returns the build with its Number and URL. A cancelled item is an
// ErrCancelled failure. Why the item waits is logged at debug whenever
// Jenkins' reason changes.
func (c *Client) WaitStart(ctx context.Context, queueURL string) (*Build, error) {
	item, err := c.resolve("queue item", queueURL)
	if err != nil {
		return nil, err
	}
	cl := call{
		op:   "jenkins: queue item " + item,
		perm: "Job/Read on the job",
		notFound: "the queue item is gone; Jenkins forgets an item some minutes after it leaves the queue, and when " +
			"it restarts: look for the build in Jenkins",
		gone: exit.Infra,
	}
	api := item + "api/json?tree=" + url.QueryEscape("id,why,cancelled,executable[number,url]")
	why := ""
	for {
		var q struct {
			Why        string `json:"why"`
			Cancelled  bool   `json:"cancelled"`
			Executable *struct {
				Number int    `json:"number"`
				URL    string `json:"url"`
			} `json:"executable"`
		}
		if err := c.getJSON(ctx, cl, api, &q); err != nil {
			return nil, err
		}
		switch {
		case q.Executable != nil && q.Executable.URL != "":
			buildURL, err := c.resolve("build", q.Executable.URL)
			if err != nil {
				return nil, err
			}
			logging.From(ctx).Debug().Str("build", buildURL).Msg("jenkins: build started")
			return &Build{Number: q.Executable.Number, URL: buildURL}, nil
		case q.Cancelled:
			return nil, exit.Mark(exit.Failed, fmt.Errorf("%s: %w; someone cancelled it in Jenkins, or the job was "+
				"disabled or deleted: start it again if it should run", cl.op, ErrCancelled))
		case q.Why != why:
			why = q.Why
			logging.From(ctx).Debug().Str("queue", item).Str("why", why).Msg("jenkins: build waits in the queue")
		}
		if err := retry.Sleep(ctx, c.poll); err != nil {
			return nil, fmt.Errorf("%s: waiting for the build to start: %w", cl.op, err)
		}
	}
}

// Follow copies the console of the build at buildURL into w as it grows,
// until the build ends, and returns the finished build.
func (c *Client) Follow(ctx context.Context, buildURL string, w io.Writer) (*Build, error) {
	build, err := c.resolve("build", buildURL)
	if err != nil {
		return nil, err
	}
	var start int64
	for {
		var more bool
		start, more, err = c.console(ctx, build, start, w)
		if err != nil {
			return nil, err
		}
		if !more {
			// The console is complete once the build is; between the two
			// Jenkins may still say the build runs.
			b, err := c.GetBuild(ctx, build)
			if err != nil || !b.Building {
				return b, err
			}
		}
		if err := retry.Sleep(ctx, c.poll); err != nil {
			return nil, fmt.Errorf("jenkins: follow %s: %w", build, err)
		}
	}
}

// console copies the console of build from byte start into w, and returns
// where the next read starts and whether Jenkins expects more text.
func (c *Client) console(ctx context.Context, build string, start int64, w io.Writer) (next int64, more bool, err error) {
	cl := call{op: "jenkins: console of " + build, perm: "Job/Read on the job", notFound: buildNotFound}
	resp, err := c.get(ctx, cl, build+"logText/progressiveText?start="+strconv.FormatInt(start, 10))
	if err != nil {
		return start, false, err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return start, false, statusError(cl, resp)
	}
	// X-Text-Size is where the text sent ends in the log, which is not
	// start plus the bytes sent: console notes are left out.
	size, err := strconv.ParseInt(resp.Header.Get("X-Text-Size"), 10, 64)
	if err != nil {
		return start, false, exit.Infraf("%s: Jenkins sent no X-Text-Size with the console; check that jenkins.url is "+
			"Jenkins itself", cl.op)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxConsoleChunk))
	if err != nil {
		return start, false, exit.Infraf("%s: copying the console: %w", cl.op, err)
	}
	if n == maxConsoleChunk {
		fmt.Fprintf(w, "\n[stepper: console cut after %d MiB here; read all of it at %sconsole]\n", maxConsoleChunk>>20, build)
	}
	return size, strings.EqualFold(resp.Header.Get("X-More-Data"), "true"), nil
}

const buildNotFound = "the build does not exist, or jenkins.user may not see it; check the build URL, and that " +
	"the build was not deleted"

// GetBuild reads the build at buildURL.
func (c *Client) GetBuild(ctx context.Context, buildURL string) (*Build, error) {
	build, err := c.resolve("build", buildURL)
	if err != nil {
		return nil, err
	}
	cl := call{op: "jenkins: read build " + build, perm: "Job/Read on the job", notFound: buildNotFound}
	var v struct {
		Number      int    `json:"number"`
		URL         string `json:"url"`
		Building    bool   `json:"building"`
		Result      string `json:"result"`      // null while the build runs
		Description string `json:"description"` // null until set
		Actions     []struct {
			Causes []struct {
				Class            string `json:"_class"`
				ShortDescription string `json:"shortDescription"`
				UserID           string `json:"userId"`
				UserName         string `json:"userName"`
				UpstreamProject  string `json:"upstreamProject"`
				UpstreamBuild    int    `json:"upstreamBuild"`
				UpstreamURL      string `json:"upstreamUrl"`
			} `json:"causes"`
			Parameters []struct {
				Name  string `json:"name"`
				Value any    `json:"value"`
			} `json:"parameters"`
		} `json:"actions"`
	}
	if err := c.getJSON(ctx, cl, build+"api/json?tree="+url.QueryEscape(buildTree), &v); err != nil {
		return nil, err
	}
	b := &Build{
		Number: v.Number, URL: cmp.Or(v.URL, build), Building: v.Building, Result: v.Result,
		Description: v.Description, Parameters: map[string]string{},
	}
	// A build may have several CauseActions (the Rebuild plugin adds
	// its own); their causes are the build's.
	for _, a := range v.Actions {
		for _, cs := range a.Causes {
			b.Causes = append(b.Causes, Cause(cs))
		}
		for _, p := range a.Parameters {
			switch val := p.Value.(type) {
			case string:
				b.Parameters[p.Name] = val
			case bool, float64:
				b.Parameters[p.Name] = fmt.Sprint(val)
			}
		}
	}
	return b, nil
}

// SetDescription sets the description of the build at buildURL to text
// (Jenkins renders it with its markup formatter).
func (c *Client) SetDescription(ctx context.Context, buildURL, text string) error {
	build, err := c.resolve("build", buildURL)
	if err != nil {
		return err
	}
	cl := call{op: "jenkins: describe build " + build, perm: "Run/Update on the job", notFound: buildNotFound}
	resp, err := c.post(ctx, cl, build+"submitDescription", url.Values{"description": {text}})
	if err != nil {
		return err
	}
	defer drain(resp)
	// Jenkins answers with a redirect to the build's page.
	if loc, err := resp.Location(); resp.StatusCode/100 == 2 ||
		resp.StatusCode/100 == 3 && err == nil && strings.TrimSuffix(loc.String(), "/")+"/" == build {
		return nil
	}
	return statusError(cl, resp)
}
