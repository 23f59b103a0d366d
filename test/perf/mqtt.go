package main

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
)

// mqttBroker is one broker the MQTT load runs against.
type mqttBroker struct {
	name string
	addr string
	pid  int
}

// measureMQTT runs the 4 → 1 MQTT load at QoS0 and QoS1 through sward's
// MQTT listener and through mosquitto, alternating which goes first in each
// run so that neither always meets a warmer or cooler machine.
func measureMQTT(cfg config, work string, rep *report) (err error) {
	n, err := startNucleus(cfg.sward, work, "")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return err
	}
	c.Close()
	brokers := []mqttBroker{{"sward", n.mqttAddr, n.pid()}}

	if bin, err := findMosquitto(); err != nil {
		rep.note("mosquitto not measured: %v", err)
	} else {
		m, err := startMosquitto(bin, work)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, m.stop()) }()
		brokers = append(brokers, mqttBroker{"mosquitto", m.addr, m.pid()})
	}

	for _, qc := range []struct {
		qos byte
		per int
	}{{0, cfg.mqttQoS0}, {1, cfg.mqttQoS1}} {
		if err := mqttCase(cfg, rep, brokers, qc.qos, qc.per); err != nil {
			return err
		}
	}
	return nil
}

func mqttCase(cfg config, rep *report, brokers []mqttBroker, qos byte, perPublisher int) error {
	type figs struct{ rate, lost, cpu, busy *figure }
	byBroker := map[string]figs{}
	for _, b := range brokers {
		lossGoal := goal{}
		if b.name == "sward" {
			lossGoal = noLoss()
		}
		key := fmt.Sprintf("mqtt_qos%d_%s", qos, b.name)
		label := fmt.Sprintf("MQTT QoS%d %d→1, %s", qos, mqttPublishers, b.name)
		byBroker[b.name] = figs{
			rate: rep.add(key+"_msgs_per_s", label+": received", "msgs/s", goal{}),
			lost: rep.add(key+"_lost", label+": lost (of "+fmt.Sprint(mqttPublishers*perPublisher)+")", "msgs", lossGoal),
			cpu:  rep.add(key+"_broker_cpu_us_per_msg", label+": broker CPU per msg", "µs", goal{}),
			busy: rep.add(key+"_machine_busy_pct", label+": machine busy (broker+clients)", "%", goal{}),
		}
	}
	var ratio, cpuRatio *figure
	if len(brokers) == 2 {
		ratio = rep.add(fmt.Sprintf("mqtt_qos%d_ratio", qos), fmt.Sprintf("MQTT QoS%d sward ÷ mosquitto msgs/s", qos), "×", atLeast(2))
		cpuRatio = rep.add(fmt.Sprintf("mqtt_qos%d_cpu_ratio", qos), fmt.Sprintf("MQTT QoS%d mosquitto ÷ sward broker CPU per msg", qos), "×", goal{})
	}
	var clientCPU []float64
	for run := range cfg.runs {
		order := slices.Clone(brokers)
		if run%2 == 1 {
			slices.Reverse(order)
		}
		rates, cpus := map[string]float64{}, map[string]float64{}
		for _, b := range order {
			r, err := mqttLoad(b.addr, b.pid, qos, mqttPublishers, perPublisher)
			if err != nil {
				return fmt.Errorf("QoS%d through %s: %w", qos, b.name, err)
			}
			brokerCPU, cpu := r.cpuPerMsg()
			busy := 100 * (r.brokerCPU + r.clientCPU).Seconds() / (r.elapsed.Seconds() * float64(runtime.NumCPU()))
			progress("  mqtt QoS%d run %d %-9s %8.0f msgs/s in %5.2fs (publishers done at %5.2fs), lost %d, broker %.1f µs/msg, clients %.1f µs/msg, machine %.0f%% busy",
				qos, run+1, b.name, r.rate(), r.elapsed.Seconds(), r.publishing.Seconds(), r.lost(), brokerCPU, cpu, busy)
			f := byBroker[b.name]
			f.rate.samples = append(f.rate.samples, r.rate())
			f.lost.samples = append(f.lost.samples, float64(r.lost()))
			f.cpu.samples = append(f.cpu.samples, brokerCPU)
			f.busy.samples = append(f.busy.samples, busy)
			clientCPU = append(clientCPU, cpu)
			rates[b.name], cpus[b.name] = r.rate(), brokerCPU
		}
		if ratio != nil {
			ratio.samples = append(ratio.samples, rates["sward"]/rates["mosquitto"])
			cpuRatio.samples = append(cpuRatio.samples, cpus["mosquitto"]/cpus["sward"])
		}
	}
	rep.note("MQTT QoS%d: the paho clients (4 publishers + 1 subscriber, one process) spent a median %.1f µs CPU per message, whichever broker.", qos, median(clientCPU))
	return nil
}
