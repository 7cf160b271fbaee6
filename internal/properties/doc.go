// Package properties reads RocketMQ configuration files (Java .properties format,
// as broker.conf and namesrv.conf are written) and binds their keys to typed Go
// config fields.
//
// Parsing follows java.util.Properties closely enough for real config files: '#'
// and '!' comments, key/value separated by '=', ':' or whitespace, leading
// whitespace ignored, backslash line continuation, and the escapes \t \n \r \f \\
// and \uXXXX. Values keep their trailing whitespace trimmed, because a stray space
// after "brokerRole=SYNC_MASTER " is a classic operator mistake that RocketMQ itself
// tolerates.
//
// A Binder maps keys to fields. Apply fails on the first bad value with a
// *KeyError that names the key, the source file and the line, and lists the keys
// it does not know: a Binder told AcceptRocketMQ accepts every RocketMQ 4.9 key
// (rocketmq_keys.txt, taken from RocketMQ's sources) with no effect, so real
// RocketMQ files load, while any other key is an *UnknownKeyError (Result.Err)
// that names the file, the line and the nearest known key: a typo stops the
// start instead of silently leaving a setting at its default.
//
// The Binder remembers where each key was set (a file and line, "flag --x",
// "environment NAMESRV_ADDR"). Config validation, which knows only keys, returns
// a *KeyError without an origin; Binder.Locate adds it. Binder.Settings lists the
// effective configuration for the start-up log.
//
//	b := properties.NewBinder()
//	cfg.BindProperties(b)           // binds keys, calls b.AcceptRocketMQ(...)
//	f, err := properties.Load(path) // parse
//	res, err := b.Apply(f)          // bad value: *KeyError with file:line
//	err = res.Err()                 // unknown keys: *UnknownKeyError each
//	err = b.Locate(cfg.Validate())  // validation error, now with file:line
//
// Imports: the standard library only. It knows no component's keys: the
// components bind their own.
package properties
