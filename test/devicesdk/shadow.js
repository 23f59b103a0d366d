// shadow.js: the Device SDK's classic shadow client (iotshadow.IotShadowClient)
// on the SDK's MQTT 3.1.1 connection, as the SDK's shadow sample uses it:
// subscribe to the accepted/rejected topics and the delta events, then
//  1. UpdateShadow reported {color: red}          → accepted
//  2. GetShadow                                   → accepted, reported red
//  3. prints {"event":"waiting-delta"}; the test sets desired over HTTP;
//     the delta event arrives and the script reports the desired value
//     (what the sample does with a delta)          → accepted
//  4. prints {"event":"reported-delta"} and waits for a line on stdin (the
//     test checks the shadow over HTTP meanwhile)
//  5. UpdateShadow with the stale version 1        → rejected 409
//  6. named shadow --shadow-name: update, get, delta event, delete
//  7. DeleteShadow → accepted; GetShadow → rejected 404
'use strict';

const { iotshadow } = require('aws-iot-device-sdk-v2');
const { args, emit, connection, Inbox, answerer, requester, stdinLines, main, mqtt } = require('./common');

main(async () => {
  const a = args();
  const thingName = a.thing;
  const shadowName = a['shadow-name'];
  const inbox = new Inbox();
  const readLine = stdinLines();
  const conn = connection(a);
  await conn.connect();
  const shadow = new iotshadow.IotShadowClient(conn);
  const qos = mqtt.QoS.AtLeastOnce;

  const answer = answerer(inbox);
  const classic = { thingName };
  await shadow.subscribeToUpdateShadowAccepted(classic, qos, answer('update', true));
  await shadow.subscribeToUpdateShadowRejected(classic, qos, answer('update', false));
  await shadow.subscribeToGetShadowAccepted(classic, qos, answer('get', true));
  await shadow.subscribeToGetShadowRejected(classic, qos, answer('get', false));
  await shadow.subscribeToDeleteShadowAccepted(classic, qos, answer('delete', true));
  await shadow.subscribeToDeleteShadowRejected(classic, qos, answer('delete', false));
  await shadow.subscribeToShadowDeltaUpdatedEvents(classic, qos, answer('delta', true));
  const named = { thingName, shadowName };
  await shadow.subscribeToUpdateNamedShadowAccepted(named, qos, answer('named-update', true));
  await shadow.subscribeToUpdateNamedShadowRejected(named, qos, answer('named-update', false));
  await shadow.subscribeToGetNamedShadowAccepted(named, qos, answer('named-get', true));
  await shadow.subscribeToGetNamedShadowRejected(named, qos, answer('named-get', false));
  await shadow.subscribeToDeleteNamedShadowAccepted(named, qos, answer('named-delete', true));
  await shadow.subscribeToDeleteNamedShadowRejected(named, qos, answer('named-delete', false));
  await shadow.subscribeToNamedShadowDeltaUpdatedEvents(named, qos, answer('named-delta', true));

  const request = requester(inbox, qos);

  await request('update', (r, q) => shadow.publishUpdateShadow(r, q), { thingName, state: { reported: { color: 'red' } } });
  await request('get', (r, q) => shadow.publishGetShadow(r, q), { thingName });

  emit({ event: 'waiting-delta' });
  const delta = await inbox.next('delta');
  emit({ event: 'delta', ...delta });
  await request('update', (r, q) => shadow.publishUpdateShadow(r, q), { thingName, state: { reported: delta.response.state } });
  emit({ event: 'reported-delta' });
  await readLine();

  await request('update', (r, q) => shadow.publishUpdateShadow(r, q), { thingName, version: 1, state: { reported: { color: 'green' } } });

  await request('named-update', (r, q) => shadow.publishUpdateNamedShadow(r, q), { thingName, shadowName, state: { desired: { rate: 5 }, reported: { rate: 1 } } });
  emit({ event: 'named-delta', ...(await inbox.next('named-delta')) });
  await request('named-get', (r, q) => shadow.publishGetNamedShadow(r, q), { thingName, shadowName });
  await request('named-delete', (r, q) => shadow.publishDeleteNamedShadow(r, q), { thingName, shadowName });

  await request('delete', (r, q) => shadow.publishDeleteShadow(r, q), { thingName });
  await request('get', (r, q) => shadow.publishGetShadow(r, q), { thingName });
  await conn.disconnect();
});
