"""The ground floor every app stands on: settings, the database, the PKCS#11 keystore, blobs, the clock, errors,
logging, idempotency records and the Runtime that holds them. It imports no app and nothing of the top."""
