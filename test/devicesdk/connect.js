// connect.js: one connect of the Device SDK's MQTT 3.1.1 connection, as the
// SDK's samples build it; prints {"event":"connect","ok":…} and, on
// success, disconnects.
'use strict';

const { args, emit, connection, main } = require('./common');

main(async () => {
  const a = args();
  const conn = connection(a);
  try {
    await conn.connect();
  } catch (err) {
    emit({ event: 'connect', clientId: a['client-id'], ok: false, error: String(err) });
    return;
  }
  emit({ event: 'connect', clientId: a['client-id'], ok: true });
  await conn.disconnect();
});
