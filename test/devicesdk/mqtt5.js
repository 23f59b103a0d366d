// mqtt5.js: what the Device SDK v2's newer samples default to — the MQTT 5
// client (AwsIotMqtt5ClientConfigBuilder's direct mTLS builder) and the
// request-response service clients (IotShadowClientv2, IotJobsClientv2)
// on it — changing only the endpoint, the port and the CA file. In order:
//  1. the shadow delta stream is opened; UpdateShadow (desired green,
//     reported red) is accepted and the delta event says green, which the
//     script reports back; GetShadow;
//     UpdateShadow with the stale version 1 fails with AWS's 409 error
//     document; DeleteShadow; GetShadow fails with 404;
//  2. the NextJobExecutionChanged stream is opened and the script prints
//     {"event":"subscribed"} (the test creates a job); the event names the
//     job; StartNextPendingJobExecution; UpdateJobExecution SUCCEEDED; the
//     next event carries no execution.
'use strict';

const { mqtt5, iot, iotshadow, iotjobs } = require('aws-iot-device-sdk-v2');
const { args, emit, Inbox, main } = require('./common');

main(async () => {
  const a = args();
  const thingName = a.thing;
  const inbox = new Inbox();
  const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(a.endpoint, a.cert, a.key);
  builder.withCertificateAuthorityFromPath(undefined, a.ca);
  builder.withPort(Number(a.port));
  builder.withConnectProperties({ clientId: a['client-id'], keepAliveIntervalSeconds: 1200 });
  const client = new mqtt5.Mqtt5Client(builder.build());
  client.on('connectionSuccess', () => inbox.push('connected', true));
  client.on('connectionFailure', (e) => inbox.push('connected', String(e.error)));
  client.start();
  const connected = await inbox.next('connected');
  emit({ event: 'connect', ok: connected === true, error: connected === true ? undefined : connected });
  if (connected !== true) return;

  const options = { maxRequestResponseSubscriptions: 2, maxStreamingSubscriptions: 2, operationTimeoutInSeconds: 10 };
  // call runs a request-response operation and prints its outcome: the
  // response, or the service's error document (modeledError).
  const call = async (op, fn) => {
    try {
      const response = await fn();
      emit({ event: op, accepted: true, response });
    } catch (err) {
      emit({ event: op, accepted: false, error: String(err), modeledError: err.modeledError });
    }
  };
  const openStream = async (name, stream) => {
    stream.on('subscriptionStatus', (e) => inbox.push(`${name}-status`, e.type));
    stream.on('incomingPublish', (e) => inbox.push(name, e.message));
    stream.on('incomingPublishError', (e) => inbox.push(name, { error: String(e.error) }));
    stream.open();
    const status = await inbox.next(`${name}-status`);
    emit({ event: `${name}-stream`, established: status === 0, status });
  };

  const shadow = iotshadow.IotShadowClientv2.newFromMqtt5(client, options);
  await openStream('delta', shadow.createShadowDeltaUpdatedStream({ thingName }));
  await call('update', () => shadow.updateShadow({ thingName, state: { desired: { color: 'green' }, reported: { color: 'red' } } }));
  const delta = await inbox.next('delta');
  emit({ event: 'delta', message: delta });
  await call('update', () => shadow.updateShadow({ thingName, state: { reported: delta.state } }));
  await call('get', () => shadow.getShadow({ thingName }));
  await call('update', () => shadow.updateShadow({ thingName, version: 1, state: { reported: { color: 'blue' } } }));
  await call('delete', () => shadow.deleteShadow({ thingName }));
  await call('get', () => shadow.getShadow({ thingName }));
  shadow.close();

  const jobs = iotjobs.IotJobsClientv2.newFromMqtt5(client, options);
  await openStream('next-changed', jobs.createNextJobExecutionChangedStream({ thingName }));
  emit({ event: 'subscribed' });
  const changed = await inbox.next('next-changed', (m) => m.execution);
  emit({ event: 'next-changed', message: changed });
  await call('start-next', () => jobs.startNextPendingJobExecution({ thingName }));
  await call('update-job', () => jobs.updateJobExecution({ thingName, jobId: changed.execution.jobId, status: iotjobs.model.JobStatus.SUCCEEDED }));
  emit({ event: 'next-changed', message: await inbox.next('next-changed') });
  jobs.close();

  const stopped = new Promise((resolve) => client.on('stopped', resolve));
  client.stop();
  await stopped;
  client.close();
});
