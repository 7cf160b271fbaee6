// Package lifecycle is the one helper Petrel's components use to own their
// goroutines (STYLE §7): a Group starts goroutines by name with a pprof
// label, refuses new ones once stopping, and stops by cancelling their
// context and waiting for every one of them.
//
// Typical use inside a component:
//
//	type Thing struct{ run lifecycle.Group }
//	func (t *Thing) Start(ctx context.Context) error {
//		if err := t.run.Start(ctx, "thing"); err != nil { return err }
//		t.run.Go("loop", t.loop)
//		return nil
//	}
//	func (t *Thing) Close() error { t.run.Stop(); return nil }
//
// It imports only the standard library.
package lifecycle
