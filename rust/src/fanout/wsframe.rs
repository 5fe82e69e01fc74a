//! WebSocket framing for the fan-out writer (RFC 6455): the server's unmasked messages, and a
//! reader of what clients send (masked frames), of which only control frames matter here.

/// Opcodes of the frames the writer sends or answers.
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;
/// A control frame's payload is at most this long.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The opcode of a whole message (as [`message`] writes it); 0 for an empty slice.
pub fn opcode(message: &[u8]) -> u8 {
    message.first().map_or(0, |first| first & 0x0F)
}

/// Whether a whole message carries data, not a control frame (control opcodes have their high
/// bit set, RFC 6455 section 5.5).
pub fn is_data(message: &[u8]) -> bool {
    !message.is_empty() && opcode(message) & 0x08 == 0
}

/// A whole unfragmented server-to-client message: FIN, `opcode`, unmasked length, payload.
pub fn message(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 10);
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame with `code` and `reason` (cut to fit a control frame, on a char boundary).
pub fn close_message(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    message(OP_CLOSE, &payload)
}

/// A control frame a client sent (data frames are read and dropped).
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Ping(Vec<u8>),
    /// A close frame, with its status code when it carries one.
    Close(Option<u16>),
}

/// What a client sent that breaks the protocol (the connection is failed with code 1002).
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

/// Reads a client's frames incrementally; keeps at most one frame header or control frame.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
    /// Payload bytes of a data frame still to be dropped.
    skip: u64,
}

struct Header {
    opcode: u8,
    fin: bool,
    len: u64,
    header_len: usize,
    mask: [u8; 4],
}

fn parse_header(buf: &[u8]) -> Result<Option<Header>, ProtocolError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    if b0 & 0x70 != 0 {
        return Err(ProtocolError("reserved bits set"));
    }
    let opcode = b0 & 0x0F;
    if !matches!(opcode, 0x0..=0x2 | 0x8..=0xA) {
        return Err(ProtocolError("unknown opcode"));
    }
    if b1 & 0x80 == 0 {
        return Err(ProtocolError("client frame not masked"));
    }
    let (len, at) = match b1 & 0x7F {
        126 => {
            let Some(bytes) = buf.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
        }
        127 => {
            let Some(bytes) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut raw = [0u8; 8];
            raw.copy_from_slice(bytes);
            let len = u64::from_be_bytes(raw);
            if len >> 63 != 0 {
                return Err(ProtocolError("length with the high bit set"));
            }
            (len, 10)
        }
        short => (u64::from(short), 2),
    };
    let Some(mask_bytes) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    let mut mask = [0u8; 4];
    mask.copy_from_slice(mask_bytes);
    Ok(Some(Header {
        opcode,
        fin: b0 & 0x80 != 0,
        len,
        header_len: at + 4,
        mask,
    }))
}

impl Reader {
    /// Takes the next bytes read from the client; appends the control frames completed.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Incoming>) -> Result<(), ProtocolError> {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            if self.skip > 0 {
                let available = (self.buf.len() - pos) as u64;
                let n = self.skip.min(available);
                pos += n as usize;
                self.skip -= n;
                if self.skip > 0 {
                    break;
                }
                continue;
            }
            let Some(header) = parse_header(&self.buf[pos..])? else {
                break;
            };
            if header.opcode < OP_CLOSE {
                pos += header.header_len;
                self.skip = header.len;
                continue;
            }
            if !header.fin || header.len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError("bad control frame"));
            }
            let end = pos + header.header_len + header.len as usize;
            if self.buf.len() < end {
                break;
            }
            let payload: Vec<u8> = self.buf[pos + header.header_len..end]
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ header.mask[i % 4])
                .collect();
            pos = end;
            match header.opcode {
                OP_PING => out.push(Incoming::Ping(payload)),
                OP_CLOSE => match payload.len() {
                    0 => out.push(Incoming::Close(None)),
                    1 => return Err(ProtocolError("close payload of one byte")),
                    _ => out.push(Incoming::Close(Some(u16::from_be_bytes([
                        payload[0], payload[1],
                    ])))),
                },
                _ => {} // pong
            }
        }
        self.buf.drain(..pos);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut out = message(opcode, payload);
        let header_len = out.len() - payload.len();
        out[1] |= 0x80;
        let body: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        out.truncate(header_len);
        out.extend_from_slice(&mask);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn message_headers_by_length() {
        assert_eq!(message(OP_BINARY, &[7; 5])[..2], [0x82, 5]);
        let mid = message(OP_BINARY, &[0; 2800]);
        assert_eq!(mid[..4], [0x82, 126, 0x0A, 0xF0]);
        assert_eq!(mid.len(), 2804);
        let big = message(OP_BINARY, &[0; 70_000]);
        assert_eq!(big[..2], [0x82, 127]);
        assert_eq!(big[2..10], 70_000u64.to_be_bytes());
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let frame = close_message(1008, &"é".repeat(100));
        assert_eq!(frame[0], 0x88);
        assert_eq!(usize::from(frame[1]), frame.len() - 2);
        assert!(frame.len() - 2 <= MAX_CONTROL_PAYLOAD);
        assert_eq!(frame[2..4], 1008u16.to_be_bytes());
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }

    #[test]
    fn reads_control_frames_byte_by_byte_and_drops_data() {
        let mut stream = masked(OP_BINARY, &[9; 300]);
        stream.extend(masked(OP_PING, b"hi"));
        stream.extend(masked(0x1, &[1; 70_000]));
        stream.extend(masked(OP_CLOSE, &[0x03, 0xE8, b'x']));
        let mut reader = Reader::default();
        let mut out = Vec::new();
        for byte in &stream {
            reader.feed(std::slice::from_ref(byte), &mut out).unwrap();
        }
        assert_eq!(
            out,
            vec![Incoming::Ping(b"hi".to_vec()), Incoming::Close(Some(1000))]
        );
        assert!(reader.buf.is_empty());
    }

    #[test]
    fn rejects_protocol_errors() {
        let mut out = Vec::new();
        let unmasked = message(OP_PING, b"x");
        assert_eq!(
            Reader::default().feed(&unmasked, &mut out),
            Err(ProtocolError("client frame not masked"))
        );
        let mut long_ping = masked(OP_PING, &[0; 126]);
        assert_eq!(
            Reader::default().feed(&long_ping, &mut out),
            Err(ProtocolError("bad control frame"))
        );
        long_ping[0] = 0x83;
        assert_eq!(
            Reader::default().feed(&long_ping, &mut out),
            Err(ProtocolError("unknown opcode"))
        );
        assert_eq!(
            Reader::default().feed(&masked(OP_CLOSE, &[3]), &mut out),
            Err(ProtocolError("close payload of one byte"))
        );
        assert!(out.is_empty());
    }
}
