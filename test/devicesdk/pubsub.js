// pubsub.js: the Device SDK's MQTT 3.1.1 connection against devcloud's data
// endpoint, as the SDK's pub_sub sample builds it. In order:
//  1. a connect with --wrong-client-id (the thing's certificate, another
//     client id) is refused;
//  2. a connect as the thing succeeds;
//  3. a subscription to the thing's alerts topic is granted, one to
//     --other-thing's alerts topic is refused in the SUBACK;
//  4. it prints {"event":"subscribed"} and waits for one message on the
//     alerts topic (the test publishes it through the data plane's HTTP API);
//  5. a QoS 1 publish on the thing's telemetry topic is acknowledged;
//  6. a publish of --oversize bytes interrupts the connection (IoT Core's
//     128 KB limit).
'use strict';

const { args, emit, connection, Inbox, main, mqtt } = require('./common');

main(async () => {
  const a = args();
  const inbox = new Inbox();

  const wrong = connection({ ...a, 'client-id': a['wrong-client-id'] });
  try {
    await wrong.connect();
    emit({ event: 'connect', clientId: a['wrong-client-id'], ok: true });
    await wrong.disconnect();
  } catch (err) {
    emit({ event: 'connect', clientId: a['wrong-client-id'], ok: false, error: String(err) });
  }

  const conn = connection(a);
  conn.on('interrupt', (err) => inbox.push('interrupt', String(err)));
  const sessionPresent = await conn.connect();
  emit({ event: 'connect', clientId: a['client-id'], ok: true, sessionPresent });

  const alerts = `sward/${a.thing}/alerts`;
  const granted = await conn.subscribe(alerts, mqtt.QoS.AtLeastOnce, (topic, payload) => {
    inbox.push('message', { topic, payload: Buffer.from(payload).toString('utf8') });
  });
  emit({ event: 'suback', topic: alerts, qos: granted.qos, errorCode: granted.error_code });
  const otherAlerts = `sward/${a['other-thing']}/alerts`;
  try {
    const r = await conn.subscribe(otherAlerts, mqtt.QoS.AtLeastOnce, () => {});
    emit({ event: 'suback', topic: otherAlerts, qos: r.qos, errorCode: r.error_code });
  } catch (err) {
    emit({ event: 'suback', topic: otherAlerts, error: String(err) });
  }

  emit({ event: 'subscribed' });
  emit({ event: 'message', ...(await inbox.next('message')) });

  const telemetry = `sward/${a.thing}/telemetry/temp`;
  const puback = await conn.publish(telemetry, JSON.stringify({ value: 21.5 }), mqtt.QoS.AtLeastOnce);
  emit({ event: 'puback', topic: telemetry, packetId: puback.packet_id });

  const big = Buffer.alloc(Number(a.oversize), 'x');
  conn.publish(telemetry, big, mqtt.QoS.AtLeastOnce).catch(() => {});
  emit({ event: 'interrupt', bytes: big.length, error: await inbox.next('interrupt') });
  await conn.disconnect();
});
