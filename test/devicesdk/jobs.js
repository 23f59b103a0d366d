// jobs.js: the Device SDK's classic jobs client (iotjobs.IotJobsClient) on
// the SDK's MQTT 3.1.1 connection, as the SDK's jobs sample uses it:
//  1. subscribe to NextJobExecutionChanged events and to the accepted and
//     rejected answers of StartNextPendingJobExecution and UpdateJobExecution,
//     then print {"event":"subscribed"} (the test creates a job);
//  2. the NextJobExecutionChanged event names the job;
//  3. StartNextPendingJobExecution → accepted, IN_PROGRESS;
//  4. UpdateJobExecution SUCCEEDED with expectedVersion → accepted;
//  5. UpdateJobExecution back to IN_PROGRESS → rejected
//     (InvalidStateTransition);
//  6. the next NextJobExecutionChanged event carries no execution.
'use strict';

const { iotjobs } = require('aws-iot-device-sdk-v2');
const { args, emit, connection, Inbox, answerer, requester, main, mqtt } = require('./common');

main(async () => {
  const a = args();
  const thingName = a.thing;
  const inbox = new Inbox();
  const conn = connection(a);
  await conn.connect();
  const jobs = new iotjobs.IotJobsClient(conn);
  const qos = mqtt.QoS.AtLeastOnce;
  const answer = answerer(inbox);

  await jobs.subscribeToNextJobExecutionChangedEvents({ thingName }, qos, answer('next-changed', true));
  await jobs.subscribeToStartNextPendingJobExecutionAccepted({ thingName }, qos, answer('start-next', true));
  await jobs.subscribeToStartNextPendingJobExecutionRejected({ thingName }, qos, answer('start-next', false));
  // '+' as the job id, as the sample subscribes before it knows the job.
  await jobs.subscribeToUpdateJobExecutionAccepted({ thingName, jobId: '+' }, qos, answer('update', true));
  await jobs.subscribeToUpdateJobExecutionRejected({ thingName, jobId: '+' }, qos, answer('update', false));
  emit({ event: 'subscribed' });

  const changed = await inbox.next('next-changed', (v) => v.response && v.response.execution);
  emit({ event: 'next-changed', ...changed });
  const jobId = changed.response.execution.jobId;

  const request = requester(inbox, qos);

  const started = await request('start-next', (r, q) => jobs.publishStartNextPendingJobExecution(r, q),
    { thingName, stepTimeoutInMinutes: 5, statusDetails: { step: 'downloading' } });
  await request('update', (r, q) => jobs.publishUpdateJobExecution(r, q), {
    thingName, jobId, status: iotjobs.model.JobStatus.SUCCEEDED, expectedVersion: started.response.execution.versionNumber,
    includeJobExecutionState: true, statusDetails: { step: 'done' },
  });
  await request('update', (r, q) => jobs.publishUpdateJobExecution(r, q), { thingName, jobId, status: iotjobs.model.JobStatus.IN_PROGRESS });
  emit({ event: 'next-changed', ...(await inbox.next('next-changed')) });
  await conn.disconnect();
});
