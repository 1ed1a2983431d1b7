"""Provider clients and simulators behind one model; imports neither bot nor storage."""
