package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// store keeps jobs and executions as files under dir:
//
//	dir/<jobId>/job.json
//	dir/<jobId>/executions/<thing>.json
//
// Each file is written to a temporary name, synced and renamed over the
// old one, so an acknowledged write survives kill -9 and a crash leaves
// either the old or the new version.
type store struct{ dir string }

const (
	jobFile       = "job.json"
	executionsDir = "executions"
	// deletedPrefix marks a job folder being removed: DeleteJob renames
	// first, so a crash mid-removal never brings the job back.
	deletedPrefix = ".deleted-"
)

func (st *store) jobDir(id string) string { return filepath.Join(st.dir, id) }

func (st *store) putJob(j *Job) error {
	return writeFileAtomic(filepath.Join(st.jobDir(j.JobID), jobFile), j)
}

func (st *store) putExecution(e *Execution) error {
	return writeFileAtomic(filepath.Join(st.jobDir(e.JobID), executionsDir, e.ThingName+".json"), e)
}

func (st *store) deleteExecution(e *Execution) error {
	err := os.Remove(filepath.Join(st.jobDir(e.JobID), executionsDir, e.ThingName+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (st *store) deleteJob(id string) error {
	gone := filepath.Join(st.dir, deletedPrefix+id)
	if err := os.Rename(st.jobDir(id), gone); err != nil {
		return err
	}
	return os.RemoveAll(gone)
}

// load reads every job and its executions; leftovers of an interrupted
// delete or write are removed.
func (st *store) load() ([]*Job, []*Execution, error) {
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		return nil, nil, err
	}
	var jobs []*Job
	var execs []*Execution
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), deletedPrefix) {
			if err := os.RemoveAll(filepath.Join(st.dir, e.Name())); err != nil {
				return nil, nil, err
			}
			continue
		}
		if !e.IsDir() {
			continue
		}
		var j Job
		path := filepath.Join(st.jobDir(e.Name()), jobFile)
		if err := readJSON(path, &j); errors.Is(err, os.ErrNotExist) {
			// CreateJob died before its job.json: it was never acknowledged.
			if err := os.RemoveAll(st.jobDir(e.Name())); err != nil {
				return nil, nil, err
			}
			continue
		} else if err != nil {
			return nil, nil, err
		}
		jobs = append(jobs, &j)
		dir := filepath.Join(st.jobDir(e.Name()), executionsDir)
		files, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
		for _, f := range files {
			if !strings.HasSuffix(f.Name(), ".json") {
				_ = os.Remove(filepath.Join(dir, f.Name())) // a temporary file of an unfinished write
				continue
			}
			var x Execution
			if err := readJSON(filepath.Join(dir, f.Name()), &x); err != nil {
				return nil, nil, err
			}
			execs = append(execs, &x)
		}
	}
	return jobs, execs, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w (devcloud wrote it; remove the job's folder to drop it)", path, err)
	}
	return nil
}

func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
