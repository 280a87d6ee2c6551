package report

import (
	"encoding/xml"
	"fmt"
	"time"

	"github.com/stepper-cd/stepper/internal/secret"
)

// The JUnit XML subset GitLab and Jenkins both read.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// JUnit renders the result's checks as one JUnit test suite named after the
// step and environment, masked.
func JUnit(r *Result, secrets *secret.Set) ([]byte, error) {
	suite := junitSuite{Name: "stepper " + r.Step, Time: secs(time.Duration(r.Duration))}
	if r.Env != "" {
		suite.Name += " " + r.Env
	}
	class := "stepper." + r.Step
	for _, c := range r.Checks {
		// Mask before XML escaping: a secret holding & or < would no longer
		// match once escaped.
		c.Name, c.Message = secrets.Mask(c.Name), secrets.Mask(c.Message)
		tc := junitCase{Name: c.Name, ClassName: class, Time: secs(time.Duration(c.Duration))}
		switch c.Status {
		case Failed, Errored:
			suite.Failures++
			tc.Failure = &junitMessage{Message: firstLine(c.Message), Text: c.Message}
		case Skipped:
			suite.Skipped++
			tc.Skipped = &junitMessage{Message: c.Message}
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, tc)
	}
	b, err := xml.MarshalIndent(junitSuites{Suites: []junitSuite{suite}}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("junit: %w", err)
	}
	return []byte(secrets.Mask(xml.Header + string(b) + "\n")), nil
}

// WriteJUnit writes JUnit(r) to path.
func WriteJUnit(path string, r *Result, secrets *secret.Set) error {
	b, err := JUnit(r, secrets)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}
