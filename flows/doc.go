// Package flows holds the hub's level-4 ("toàn trình") flows, one package
// each: fees (online fee payment through the national payment platform),
// postal (result delivery by VNPost), notify (SMS and email to the
// applicant) and writeback (events written back to the provinces).
// settlement carries out, retries and bounds what a payment or a delivery
// owes afterwards; once makes every outbound effect happen once per
// idempotency key.
package flows
