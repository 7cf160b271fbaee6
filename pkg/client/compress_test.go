package client_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/petrelmq/petrel/pkg/client"
	"github.com/petrelmq/petrel/pkg/message"
)

var allCompressions = []client.Compression{client.CompressionZLIB, client.CompressionLZ4, client.CompressionZSTD}

func TestCompressionSysFlag(t *testing.T) {
	t.Parallel()
	// RocketMQ 5.x MessageSysFlag: LZ4 0x1<<8, ZSTD 0x2<<8; zlib as 4.x writes it.
	require.Equal(t, message.SysFlag(0x1), client.CompressionZLIB.SysFlag())
	require.Equal(t, message.SysFlag(0x101), client.CompressionLZ4.SysFlag())
	require.Equal(t, message.SysFlag(0x201), client.CompressionZSTD.SysFlag())
	require.Equal(t, message.SysFlag(0), client.Compression(7).SysFlag())
	require.Equal(t, "LZ4", client.CompressionLZ4.String())
	require.Equal(t, "Compression(7)", client.Compression(7).String())
	require.False(t, client.Compression(-1).Valid())
	_, err := client.CompressWith(client.Compression(7), []byte("x"), 5)
	require.ErrorIs(t, err, client.ErrUnsupportedCompression)
}

func TestCompressWithRoundTrip(t *testing.T) {
	t.Parallel()
	in := bytes.Repeat([]byte("petrel compresses bodies "), 1000)
	for _, alg := range allCompressions {
		for _, level := range []int{1, 5, 9} {
			z, err := client.CompressWith(alg, in, level)
			require.NoError(t, err, "%s/%d", alg, level)
			require.Less(t, len(z), len(in), "%s/%d", alg, level)
			out, err := client.Decompress(alg.SysFlag(), z)
			require.NoError(t, err, "%s/%d", alg, level)
			require.Equal(t, in, out, "%s/%d", alg, level)
		}
		// An empty body round-trips too.
		z, err := client.CompressWith(alg, nil, 5)
		require.NoError(t, err)
		out, err := client.Decompress(alg.SysFlag(), z)
		require.NoError(t, err, "%s empty", alg)
		require.Empty(t, out)
	}
	// 5.x writers mark zlib with 0x300; 4.x with the COMPRESSED bit alone.
	z, err := client.CompressWith(client.CompressionZLIB, in, 5)
	require.NoError(t, err)
	out, err := client.Decompress(message.SysFlagCompressed|message.SysFlagCompressionZLIB, z)
	require.NoError(t, err)
	require.Equal(t, in, out)
}

func TestDecompressRejectsWrongOrUnknownType(t *testing.T) {
	t.Parallel()
	in := bytes.Repeat([]byte("x"), 4096)
	for _, alg := range allCompressions {
		z, err := client.CompressWith(alg, in, 5)
		require.NoError(t, err)
		for _, other := range allCompressions {
			if other != alg {
				_, err := client.Decompress(other.SysFlag(), z)
				require.Error(t, err, "%s body read as %s", alg, other)
			}
		}
		for _, typ := range []message.SysFlag{0x400, 0x500, 0x600, 0x700} {
			_, err := client.Decompress(message.SysFlagCompressed|typ, z)
			require.ErrorIs(t, err, client.ErrUnsupportedCompression)
		}
		// Without the COMPRESSED bit the type bits alone change nothing.
		same, err := client.Decompress(alg.SysFlag()&^message.SysFlagCompressed, z)
		require.NoError(t, err)
		require.Equal(t, z, same)
	}
}

// TestDecompressIsBounded checks that a small body expanding past
// MaxDecompressedSize is refused instead of allocated.
func TestDecompressIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 64 MiB per algorithm")
	}
	t.Parallel()
	big := make([]byte, client.MaxDecompressedSize+1)
	for _, alg := range allCompressions {
		z, err := client.CompressWith(alg, big, 1)
		require.NoError(t, err)
		require.Less(t, len(z), 1<<20, "%s", alg)
		_, err = client.Decompress(alg.SysFlag(), z)
		require.ErrorIs(t, err, client.ErrBodyTooLarge, "%s", alg)
	}
}
