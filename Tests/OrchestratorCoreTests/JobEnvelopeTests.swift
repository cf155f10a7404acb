import OrchestratorCore
import Testing

@Suite("Job envelopes and SHA-1 (pure)")
struct JobEnvelopeTests {
    @Test("a producer's plain payload is attempt 1 with no error, whatever its bytes")
    func plainPayload() {
        for payload in ["", "{\"id\":1}", "\u{1E}rpa:1 ", "\u{1E}rpa:1 x y\nabc", "\u{1E}rpa:1 2 99\nshort", "\u{1E}rpa:1 +2 0\nx"] {
            let job = ClaimedJob(element: Array(payload.utf8))
            #expect(job.attempt == 1 && job.previousError.isEmpty && job.payload == Array(payload.utf8), "\(payload.debugDescription)")
        }
    }

    @Test("an envelope round-trips attempts, error and binary payload")
    func roundTrip() {
        let payload: [UInt8] = [0, 0xFF, 10, 32, 0x1E] + Array("day report".utf8)
        let e = JobEnvelope(attemptsMade: 2, lastError: "login page said: wrong\npassword", payload: payload)
        #expect(JobEnvelope.decode(e.encoded()) == e)
        let job = ClaimedJob(element: e.encoded())
        #expect(job.attempt == 3 && job.payload == payload && job.previousError == e.lastError)
        #expect(job.id == SHA1.hex(payload), "JOB_ID is the payload's digest, envelope or not")
    }

    @Test("no attempt made: the element is the bare payload, so producers' bytes stay as they were")
    func bareWhenFresh() {
        #expect(JobEnvelope(payload: Array("x".utf8)).encoded() == Array("x".utf8))
    }

    @Test("an instance id rides in the envelope from the first attempt; it is the job's id and survives a failed attempt")
    func instanceID() {
        let fresh = JobEnvelope(instanceID: "0f1e2d3c4b5a69788796a5b4c3d2e1f0", payload: Array("{}".utf8))
        #expect(fresh.encoded() == Array("\u{1E}rpa:1 0 0 0f1e2d3c4b5a69788796a5b4c3d2e1f0\n{}".utf8))
        let job = ClaimedJob(element: fresh.encoded())
        #expect(job.id == "0f1e2d3c4b5a69788796a5b4c3d2e1f0" && job.instanceID == job.id && job.attempt == 1 && job.payload == Array("{}".utf8))
        let failed = JobEnvelope(attemptsMade: 1, lastError: "boom", instanceID: job.instanceID, payload: job.payload)
        #expect(JobEnvelope.decode(failed.encoded()) == failed)
        #expect(ClaimedJob(element: failed.encoded()).id == job.id)
        for bad in ["", "a.b", "a b", String(repeating: "x", count: 65)] {
            #expect(!JobEnvelope.isValidInstanceID(Array(bad.utf8)), "\(bad)")
        }
        #expect(JobEnvelope.isValidInstanceID(Array("A-z_09".utf8)))
    }

    @Test("SHA-1 matches the standard vectors (and redis.sha1hex)", arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (String(repeating: "a", count: 1000), "291e9a6c66994949b57ba5e650361e98fc36b1ba"),
    ])
    func sha1(input: String, digest: String) {
        #expect(SHA1.hex(Array(input.utf8)) == digest)
    }
}
