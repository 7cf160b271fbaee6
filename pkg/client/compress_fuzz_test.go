package client_test

import (
	"bytes"
	"testing"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
)

// FuzzDecompress feeds arbitrary bodies and sysFlags to Decompress: it must
// never panic, never return more than MaxDecompressedSize bytes, and leave
// uncompressed bodies as they are.
func FuzzDecompress(f *testing.F) {
	in := bytes.Repeat([]byte("seed body "), 50)
	for _, alg := range []client.Compression{client.CompressionZLIB, client.CompressionLZ4, client.CompressionZSTD} {
		z, err := client.CompressWith(alg, in, 5)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(int32(alg.SysFlag()), z)
		f.Add(int32(alg.SysFlag()), z[:len(z)/2])
	}
	f.Add(int32(message.SysFlagCompressed|0x300), []byte{0x78, 0x9c})
	f.Add(int32(0), []byte("plain"))
	f.Add(int32(message.SysFlagCompressed|0x700), []byte("junk"))
	f.Fuzz(func(t *testing.T, flag int32, body []byte) {
		sf := message.SysFlag(flag)
		orig := bytes.Clone(body)
		out, err := client.Decompress(sf, body)
		if !bytes.Equal(orig, body) {
			t.Fatal("Decompress modified its input")
		}
		if err != nil {
			return
		}
		if len(out) > client.MaxDecompressedSize {
			t.Fatalf("decompressed %d bytes, over the cap", len(out))
		}
		if !sf.Has(message.SysFlagCompressed) && !bytes.Equal(out, body) {
			t.Fatal("uncompressed body changed")
		}
	})
}
