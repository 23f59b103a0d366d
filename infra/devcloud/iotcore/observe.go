package iotcore

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Message is a message as the rules engine sees it: published by a device
// (after its authorization) or from the service side (Publish).
type Message struct {
	Topic   string
	Payload []byte
	// ClientID is the publisher's MQTT client id ("" for the service
	// side); Principal its certificate id (hex SHA-256 of the DER
	// certificate, IoT Core's certificate id), "" when not a device.
	ClientID, Principal string
}

// Observe calls fn for every message published on a topic matching
// filter, whether or not any client subscribes to it: how the rules engine
// sees the message flow.
func (s *Server) Observe(filter string, fn func(Message)) error {
	s.handlers++
	return s.mqtt.Subscribe(filter, s.handlers, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		m := Message{Topic: pk.TopicName, Payload: pk.Payload}
		if cl, ok := s.mqtt.Clients.Get(pk.Origin); ok && !cl.Net.Inline {
			m.ClientID = cl.ID
			if conn, ok := cl.Net.Conn.(*tls.Conn); ok {
				if certs := conn.ConnectionState().PeerCertificates; len(certs) > 0 {
					sum := sha256.Sum256(certs[0].Raw)
					m.Principal = hex.EncodeToString(sum[:])
				}
			}
		}
		fn(m)
	})
}
