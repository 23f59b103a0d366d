package lambdas

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// LogEvent is one line a function instance printed.
type LogEvent struct {
	Time    time.Time
	Message string
}

// LogSink receives an instance's lines, in order, for the function's log
// group and the instance's log stream (devcloud: CloudWatch Logs in moto).
type LogSink func(group, stream string, events []LogEvent) error

// logFlushInterval is how long a line waits before it is shipped: Lambda
// takes a few seconds too; shorter only means more requests to moto.
const logFlushInterval = time.Second

// shipper collects an instance's output into lines and hands them to the
// sink every logFlushInterval and when the instance stops.
type shipper struct {
	sink          LogSink
	group, stream string
	onErr         func(error)

	mu       sync.Mutex
	partial  []byte
	events   []LogEvent
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// newShipper starts shipping to group under a stream named as Lambda
// names them: <date>/[$LATEST]<instance id>.
func newShipper(sink LogSink, group string, onErr func(error)) *shipper {
	sh := &shipper{
		sink: sink, group: group, onErr: onErr,
		stream: time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + strings.ReplaceAll(uuid.NewString(), "-", ""),
		stop:   make(chan struct{}), done: make(chan struct{}),
	}
	go sh.run()
	return sh
}

func (sh *shipper) Write(p []byte) (int, error) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.partial = append(sh.partial, p...)
	for {
		i := bytes.IndexByte(sh.partial, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimRight(string(sh.partial[:i]), "\r"); line != "" {
			sh.events = append(sh.events, LogEvent{Time: time.Now(), Message: line})
		}
		sh.partial = sh.partial[i+1:]
	}
	return len(p), nil
}

func (sh *shipper) run() {
	defer close(sh.done)
	t := time.NewTicker(logFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			sh.flush()
		case <-sh.stop:
			sh.flush()
			return
		}
	}
}

func (sh *shipper) flush() {
	sh.mu.Lock()
	events := sh.events
	sh.events = nil
	sh.mu.Unlock()
	if len(events) == 0 {
		return
	}
	if err := sh.sink(sh.group, sh.stream, events); err != nil {
		sh.onErr(err)
	}
}

// close ships what is left and stops.
func (sh *shipper) close() {
	sh.stopOnce.Do(func() { close(sh.stop) })
	<-sh.done
}
