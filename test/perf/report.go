package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects figures in the order they were measured.
type report struct {
	date    time.Time
	command string
	machine machine
	figures []*figure
	notes   []string
}

// figure is one measured quantity: the per-run samples and the goal it is
// judged against.
type figure struct {
	key     string // JSON name, e.g. "idle_pss_mb"
	label   string // table text
	unit    string
	samples []float64
	goal    goal
}

// goal is a bound on a figure's median (or, for losses, its maximum).
type goal struct {
	op    string // "<=" or ">="; empty means no goal
	value float64
	onMax bool // judge the worst run, not the median (losses must be zero in every run)
}

func atMost(v float64) goal  { return goal{op: "<=", value: v} }
func atLeast(v float64) goal { return goal{op: ">=", value: v} }
func noLoss() goal           { return goal{op: "<=", value: 0, onMax: true} }

type machine struct {
	NProc  int    `json:"nproc"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
	// Load1Start and Load1End are the 1-minute load averages around the
	// run: other work on the machine lowers msgs/s and lengthens starts, so
	// a figure is only comparable with one made under similar load.
	Load1Start float64 `json:"load1_start"`
	Load1End   float64 `json:"load1_end"`
}

// loadAverage is the 1-minute load average, or -1 when unknown.
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(data), &l); err != nil {
		return -1
	}
	return l
}

func newReport(cfg config) *report {
	return &report{
		date:    time.Now().UTC(),
		command: strings.Join(append([]string{"go run ./test/perf"}, os.Args[1:]...), " "),
		machine: readMachine(),
	}
}

func readMachine() machine {
	m := machine{NProc: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Kernel: "unknown", Load1Start: loadAverage()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	return m
}

// add records a figure and returns it for more samples.
func (r *report) add(key, label, unit string, g goal, samples ...float64) *figure {
	f := &figure{key: key, label: label, unit: unit, goal: g, samples: samples}
	r.figures = append(r.figures, f)
	return f
}

func (r *report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (f *figure) median() float64 { return median(f.samples) }

// met reports whether the goal holds, and false with ok=false when the
// figure has no goal or no samples.
func (f *figure) met() (met, ok bool) {
	if f.goal.op == "" || len(f.samples) == 0 {
		return false, false
	}
	v := f.median()
	if f.goal.onMax {
		v = slices.Max(f.samples)
	}
	if f.goal.op == "<=" {
		return v <= f.goal.value, true
	}
	return v >= f.goal.value, true
}

// text is the goal as the table shows it, e.g. "≤ 14 MB".
func (g goal) text(unit string) string {
	switch {
	case g.op == "":
		return ""
	case g.onMax && g.value == 0:
		return "0 in every run"
	}
	s := strings.NewReplacer("<=", "≤", ">=", "≥").Replace(g.op) + " " + num(g.value) + " " + unit
	if g.onMax {
		s += " in every run"
	}
	return s
}

// round3 keeps the JSON line short: three decimals are below every
// figure's run-to-run spread.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// num prints a figure with as many digits as it deserves.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1000 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func (r *report) print(w io.Writer) {
	r.machine.Load1End = loadAverage()
	fmt.Fprintf(w, "\n%s, %d × %s, Linux %s, %s, load average %.2f → %.2f\n\n", r.date.Format("2006-01-02 15:04 UTC"),
		r.machine.NProc, r.machine.CPU, r.machine.Kernel, r.machine.Go, r.machine.Load1Start, r.machine.Load1End)
	fmt.Fprintln(w, "| figure | median | min – max | runs | goal | met |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---|")
	type jsonFigure struct {
		Median float64 `json:"median"`
		Min    float64 `json:"min"`
		Max    float64 `json:"max"`
		Runs   int     `json:"runs"`
		Unit   string  `json:"unit"`
		Goal   string  `json:"goal,omitempty"`
		Met    *bool   `json:"met,omitempty"`
	}
	out := map[string]jsonFigure{}
	for _, f := range r.figures {
		if len(f.samples) == 0 {
			continue
		}
		jf := jsonFigure{Median: round3(f.median()), Min: round3(slices.Min(f.samples)), Max: round3(slices.Max(f.samples)),
			Runs: len(f.samples), Unit: f.unit, Goal: f.goal.text(f.unit)}
		metText := ""
		if met, ok := f.met(); ok {
			jf.Met = &met
			metText = map[bool]string{true: "yes", false: "**no**"}[met]
		}
		out[f.key] = jf
		fmt.Fprintf(w, "| %s | %s %s | %s – %s | %d | %s | %s |\n", f.label, num(jf.Median), f.unit, num(jf.Min), num(jf.Max), jf.Runs, jf.Goal, metText)
	}
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	line, _ := json.Marshal(struct {
		Date    string                `json:"date"`
		Command string                `json:"command"`
		Machine machine               `json:"machine"`
		Figures map[string]jsonFigure `json:"figures"`
	}{r.date.Format(time.RFC3339), r.command, r.machine, out})
	fmt.Fprintf(w, "\n%s\n", line)
}
