package doctor

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// docs/playbook.md is what an SRE reads beside doctor's output: it must
// explain every check, quote the measured figures as docs/benchmarks.md
// has them, and list the alert rules that ship.
func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPlaybookExplainsEveryCheck(t *testing.T) {
	playbook := readDoc(t, "../docs/playbook.md")
	for _, c := range Checks() {
		name := c.Name
		if strings.HasPrefix(name, "disk/") {
			name = "disk/DEV" // one finding per device
		}
		if !strings.Contains(playbook, "`"+name+"`") {
			t.Errorf("docs/playbook.md does not explain %s", name)
		}
	}
}

func TestPlaybookNamesEveryAlertRule(t *testing.T) {
	playbook := readDoc(t, "../docs/playbook.md")
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal([]byte(readDoc(t, "../contrib/prometheus/brisk-alerts.yaml")), &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if !strings.Contains(playbook, "`"+r.Alert+"`") {
				t.Errorf("docs/playbook.md's monitoring section does not give the alert %s", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert rules read")
	}
	for _, m := range regexp.MustCompile("`(Brisk[A-Za-z]+)`").FindAllStringSubmatch(playbook, -1) {
		if !strings.Contains(readDoc(t, "../contrib/prometheus/brisk-alerts.yaml"), "alert: "+m[1]+"\n") {
			t.Errorf("docs/playbook.md names an alert %s that contrib/prometheus/brisk-alerts.yaml does not have", m[1])
		}
	}
}

// figure matches a measured value: a latency, a ratio, or a rate in a table.
var figure = regexp.MustCompile(`\d[\d,]*(\.\d+)?\s?(µs|ms|×)|\|\s*\d[\d,]{2,}\s*\|`)

func TestPlaybookFiguresAreTheBenchmarks(t *testing.T) {
	playbook := readDoc(t, "../docs/playbook.md")
	start, end := strings.Index(playbook, "## 4."), strings.Index(playbook, "## 5.")
	if start < 0 || end < start {
		t.Fatal("docs/playbook.md has no section 4 (fixes) before section 5")
	}
	// Thousands separators and table bars aside, as written.
	norm := func(s string) string {
		return strings.Join(strings.Fields(strings.NewReplacer(",", "", "|", " ").Replace(s)), " ")
	}
	measured := norm(readDoc(t, "../docs/benchmarks.md") + readDoc(t, "../docs/write-path-latency.md"))
	n := 0
	for _, f := range figure.FindAllString(playbook[start:end], -1) {
		n++
		// Whole figures only: 59× is not 0.59×.
		if !regexp.MustCompile(`(^|[^\d.])` + regexp.QuoteMeta(norm(f)) + `($|[^\d.]|\.[^\d])`).MatchString(measured) {
			t.Errorf("docs/playbook.md quotes %q, which docs/benchmarks.md and docs/write-path-latency.md do not have", strings.TrimSpace(f))
		}
	}
	if n == 0 {
		t.Fatal("no figures found in section 4")
	}
}
