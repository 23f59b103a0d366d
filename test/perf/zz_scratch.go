package main

import (
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/sward-iot/sward/edge/control"
)

func init() {
	if os.Getenv("PERF_SCRATCH") == "" {
		return
	}
	work, _ := os.MkdirTemp("", "perf-scratch-")
	defer os.RemoveAll(work)
	port, _ := freePort()
	s, err := server.NewServer(&server.Options{ServerName: "scratch", Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: work, NoSigs: true,
		MQTT: server.MQTTOpts{Host: "127.0.0.1", Port: port}})
	if err != nil {
		panic(err)
	}
	s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		panic("not ready")
	}
	bin, err := findMosquitto()
	if err != nil {
		panic(err)
	}
	m, err := startMosquitto(bin, work)
	if err != nil {
		panic(err)
	}
	defer m.stop()
	if os.Getenv("PERF_SCRATCH") == "nats" {
		r, err := natsLoad(control.Credential{NATSURL: s.ClientURL()}, os.Getpid(), 2_000_000)
		fmt.Println(r.rate(), r.lost(), r.elapsed, r.publishing, err)
		os.Exit(0)
	}
	for _, qos := range []byte{0, 1} {
		per := 50000
		if qos == 1 {
			per = 25000
		}
		for _, b := range []mqttBroker{{"inproc", fmt.Sprintf("127.0.0.1:%d", port), os.Getpid()}, {"mosquitto", m.addr, m.pid()}} {
			r, err := mqttLoad(b.addr, b.pid, qos, 4, per)
			if err != nil {
				fmt.Println(b.name, err)
				continue
			}
			bc, cc := r.cpuPerMsg()
			fmt.Printf("qos%d %-9s %8.0f msgs/s %.2fs lost %d broker %.1fus client %.1fus\n", qos, b.name, r.rate(), r.elapsed.Seconds(), r.lost(), bc, cc)
		}
	}
	s.Shutdown()
	os.Exit(0)
}
