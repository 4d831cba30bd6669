import CRdKafka
import struct Foundation.Date

extension KafkaMessage {
    /// Copies a received message out of librdkafka's buffers (the caller destroys `rawMessage`).
    init(copying rawMessage: UnsafeMutablePointer<rd_kafka_message_t>) {
        let raw = rawMessage.pointee
        let topic = raw.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let key = raw.key.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: raw.key_len)) }
        let value = raw.payload.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: raw.len)) } ?? []

        var headers: [KafkaHeader] = []
        var rawHeaders: OpaquePointer? = nil  // owned by the message
        if rd_kafka_message_headers(rawMessage, &rawHeaders) == RD_KAFKA_RESP_ERR_NO_ERROR, let rawHeaders {
            var index = 0
            var name: UnsafePointer<CChar>? = nil
            var headerValue: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(rawHeaders, index, &name, &headerValue, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(
                    KafkaHeader(
                        name: name.map { String(cString: $0) } ?? "",
                        value: headerValue.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: size)) }))
                index += 1
            }
        }

        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let milliseconds = rd_kafka_message_timestamp(rawMessage, &timestampType)
        let timestamp = milliseconds >= 0 ? Date(timeIntervalSince1970: Double(milliseconds) / 1000) : nil

        self.init(
            topic: topic, partition: Int(raw.partition), offset: raw.offset, key: key, value: value,
            headers: headers, timestamp: timestamp)
    }
}
