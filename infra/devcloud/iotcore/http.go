package iotcore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Handle calls handler for every message published on a topic matching
// filter, after the publisher's authorization: how devcloud's own services
// (shadows, jobs) receive device requests.
func (s *Server) Handle(filter string, handler func(topic string, payload []byte)) error {
	s.handlers++
	return s.mqtt.Subscribe(filter, s.handlers, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		handler(pk.TopicName, pk.Payload)
	})
}

// Publish delivers a message from the service side (the IoT data plane's
// Publish, later rules' republish) to the MQTT subscribers allowed to
// receive it, after IoT Core's topic and payload limits.
func (s *Server) Publish(topic string, payload []byte, qos byte, retain bool) error {
	if topic == "" || strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("topic %q: a publish names one topic, without + or #", topic)
	}
	if err := CheckPublishTopic(topic, len(payload)); err != nil {
		return err
	}
	return s.mqtt.Publish(topic, payload, retain, qos)
}

// RegisterHTTP adds the IoT data plane's Publish to mux, as aws-sdk-go-v2's
// iotdataplane client calls it (`POST /topics/<topic>?qos=&retain=`, the
// topic's `/` escaped as %2F). Requests are not SigV4-verified: the
// listener is loopback only.
func (s *Server) RegisterHTTP(mux *http.ServeMux) {
	mux.HandleFunc("POST /topics/", s.servePublish)
}

func (s *Server) servePublish(w http.ResponseWriter, r *http.Request) {
	topic, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/topics/"))
	if err != nil || topic == "" {
		writeError(w, http.StatusBadRequest, "InvalidRequestException", "the path names no topic")
		return
	}
	qos := byte(0)
	if q := r.URL.Query().Get("qos"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 || n > 1 {
			writeError(w, http.StatusBadRequest, "InvalidRequestException", "qos "+q+": want 0 or 1")
			return
		}
		qos = byte(n)
	}
	retain := r.URL.Query().Get("retain") == "true"
	payload, err := io.ReadAll(io.LimitReader(r.Body, MaxPayloadBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	if len(payload) > MaxPayloadBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException", fmt.Sprintf("payload over IoT Core's %d bytes", MaxPayloadBytes))
		return
	}
	if err := s.Publish(topic, payload, qos, retain); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	s.log.Info("published over HTTP", "topic", topic, "bytes", len(payload), "qos", qos, "retain", retain)
	w.WriteHeader(http.StatusOK)
}

// writeError answers as AWS's restJson1 services do: the error type in
// X-Amzn-ErrorType, the message in the body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

// HandleRequest is Handle with the publishing client's id, for services
// that answer the requester only (jobs).
func (s *Server) HandleRequest(filter string, handler func(clientID, topic string, payload []byte)) error {
	s.handlers++
	return s.mqtt.Subscribe(filter, s.handlers, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		handler(pk.Origin, pk.TopicName, pk.Payload)
	})
}

// ErrNotConnected is returned by Reply for a client that is not connected.
var ErrNotConnected = errors.New("client not connected")

// Reply sends a message to one connected client only, whether or not it
// subscribed, as IoT Core answers a jobs request: no other client and no
// rule sees it. The client's policy must allow iot:Receive on the topic.
// It goes at QoS 0.
func (s *Server) Reply(clientID, topic string, payload []byte) error {
	cl, ok := s.mqtt.Clients.Get(clientID)
	if !ok || cl.Closed() {
		return fmt.Errorf("%w: %s", ErrNotConnected, clientID)
	}
	if !s.auth.OnACLCheck(cl, topic, false) {
		s.log.Info("answer not delivered: the policy refuses iot:Receive", "client", clientID, "topic", topic)
		return nil
	}
	return cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish},
		TopicName:   topic,
		Payload:     payload,
	})
}

// Connection is an authorized MQTT connection.
type Connection struct {
	ClientID  string    `json:"clientId"`
	ThingName string    `json:"thingName"`
	Remote    string    `json:"remote"`
	Since     time.Time `json:"since"`
}

// Connections lists the open connections by client id.
func (s *Server) Connections() []Connection {
	var out []Connection
	s.auth.identities.Range(func(k, v any) bool {
		cl, sess := k.(*mqtt.Client), v.(session)
		if !cl.Closed() {
			out = append(out, Connection{ClientID: cl.ID, ThingName: sess.id.ThingName, Remote: sess.remote, Since: sess.since})
		}
		return true
	})
	slices.SortFunc(out, func(a, b Connection) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out
}
