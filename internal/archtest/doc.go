// Package archtest holds tests that keep camvault's architecture true: the
// layering rules of the design (adapters never reach the store, the policy
// and the domain do no I/O) and one package doc per package. It has no
// code of its own.
package archtest
