package logd

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/containerd/containerd/v2/pkg/identifiers"

	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/spool"
)

// Task is one run this node holds in its spool (live, or exited and not
// yet shipped), or shipped in the last minutes.
type Task struct {
	Namespace string    `json:"namespace"`
	ID        string    `json:"id"`
	Run       string    `json:"run"`
	State     string    `json:"state"` // spool.StateLive, spool.StateDone, or StateShipped lately
	Started   time.Time `json:"started"`
	Exited    time.Time `json:"exited,omitzero"`
	ExitCode  *int      `json:"exit_code,omitempty"` // once done
	Bytes     int64     `json:"bytes"`

	shipped time.Time  // when brisk-logd shipped it (StateShipped)
	batch   *index.Hit // where, when it shipped in a batch
}

// taskOf is the run an entry's metadata describes; its exit code once the
// entry is done (a dead shim's entry has none).
func taskOf(m spool.Meta) Task {
	t := Task{Namespace: m.Namespace, ID: m.ID, Run: m.Run, State: m.State, Started: m.Started, Exited: m.Exited, Bytes: m.StdoutBytes + m.StderrBytes}
	if m.State == spool.StateDone {
		code := m.ExitCode
		t.ExitCode = &code
	}
	return t
}

// TaskList is GET /v1/tasks's answer.
type TaskList struct {
	Node  string `json:"node"`
	Tasks []Task `json:"tasks"`
}

// serveTasks is GET /v1/tasks?namespace=NS[&id=ID]: the runs in this
// node's spool and those it shipped in the last minutes, of the namespaces
// the caller may read. Peers ask it with
// an ID to find where a task runs.
func (s *Server) serveTasks(w http.ResponseWriter, r *http.Request, c caller) {
	ns, id := r.URL.Query().Get("namespace"), r.URL.Query().Get("id")
	if ns != "" {
		if err := identifiers.Validate(ns); err != nil {
			deny(w, http.StatusBadRequest, "namespace=%q: %v", ns, err)
			return
		}
		if !c.allows(ns) {
			deny(w, http.StatusForbidden, "this token may not read namespace %q", ns)
			return
		}
	}
	if id != "" && ns == "" {
		deny(w, http.StatusBadRequest, "id=%q needs namespace=", id)
		return
	}
	tasks, err := s.spoolTasks(ns, id, c)
	if err != nil {
		deny(w, http.StatusInternalServerError, "list the spool %s: %v", s.logs.SpoolDir, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(TaskList{Node: s.node, Tasks: tasks})
}

// spoolTasks lists the spool's runs of namespace ns ("" every one c may
// read) and, when id is set, of that ID only.
func (s *Server) spoolTasks(ns, id string, c caller) ([]Task, error) {
	var dirs []string
	if id != "" {
		refs, err := spool.Runs(s.logs.SpoolDir, ns, id)
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			dirs = append(dirs, r.Dir)
		}
	} else {
		var err error
		if dirs, err = spool.Pending(s.logs.SpoolDir); err != nil {
			return nil, err
		}
	}
	tasks := []Task{}
	for _, dir := range dirs {
		m, err := spool.ReadMeta(dir)
		if err != nil || (ns != "" && m.Namespace != ns) || !c.allows(m.Namespace) {
			continue // shipped meanwhile, or not the caller's
		}
		tasks = append(tasks, taskOf(m))
	}
	if s.shipping != nil {
		seen := map[string]bool{}
		for _, t := range tasks {
			seen[t.Namespace+"/"+t.ID+"@"+t.Run] = true
		}
		tasks = append(tasks, s.shipping.Recent(ns, id, func(t Task) bool {
			return c.allows(t.Namespace) && !seen[t.Namespace+"/"+t.ID+"@"+t.Run]
		})...)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].Started.Before(tasks[j].Started) })
	return tasks, nil
}
