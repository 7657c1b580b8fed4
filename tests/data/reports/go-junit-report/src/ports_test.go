package ports

import "testing"

func TestParsesAPort(t *testing.T) {
	if got, err := Port("8080"); err != nil || got != 8080 {
		t.Fatalf("Port(8080) = %d, %v", got, err)
	}
}

func TestRefusesABigPort(t *testing.T) {
	got, err := Port("70000")
	if err != nil {
		t.Fatalf("ports <wrap> & fail: %v", err)
	}
	t.Logf("got %d", got)
}

func TestTalksToAServer(t *testing.T) {
	t.Skip("needs a network")
}
