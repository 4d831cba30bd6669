import CLlama
import Foundation

/// What the GGUF header of a model file says, once it has been checked against the file's size.
struct GGUFSummary: Sendable {
    var version: UInt32
    var tensorCount: Int
    var metadataCount: Int
    var architecture: String?
    var fileSize: Int64
    /// Where the last tensor's data ends; never past `fileSize`.
    var dataEnd: Int64
}

/// Checks a GGUF file's header and tensor table before libllama sees it.
///
/// libllama also rejects most bad files, but only with a line on its log and a NULL; walking the
/// header here answers with the precise problem (not GGUF, unsupported version, truncated where) and
/// keeps garbage (huge counts, unknown types) away from code that may assert on it.
enum GGUFFile {
    static let magic: [UInt8] = Array("GGUF".utf8)
    static let supportedVersions: ClosedRange<UInt32> = 2...3
    static let defaultAlignment = 32

    static func validate(path: String) throws(LlamaError) -> GGUFSummary {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code: LlamaError.Code = errno == ENOENT || errno == ENOTDIR ? .fileNotFound : .fileNotReadable
            throw LlamaError(code: code, detail: "cannot stat the model file: \(String(cString: strerror(errno)))", path: path)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw LlamaError(code: .invalidModel, detail: "not a regular file", path: path)
        }
        let fileSize = Int64(info.st_size)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LlamaError(code: .fileNotReadable, detail: "cannot open the model file: \(String(cString: strerror(errno)))", path: path)
        }
        defer { close(fd) }
        let headerSize = 24
        guard fileSize >= headerSize else {
            throw LlamaError(
                code: .invalidModel,
                detail: "file is \(fileSize) bytes, too small for a GGUF header (\(headerSize) bytes): truncated or not a model",
                path: path)
        }
        // Map the whole file read-only; the walk touches only the header pages.
        guard let mapping = mmap(nil, Int(fileSize), PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw LlamaError(code: .fileNotReadable, detail: "cannot map the model file: \(String(cString: strerror(errno)))", path: path)
        }
        defer { munmap(mapping, Int(fileSize)) }
        do {
            var reader = Reader(base: UnsafeRawPointer(mapping), size: Int(fileSize))
            return try walk(&reader, fileSize: fileSize)
        } catch let problem {
            throw LlamaError(code: .invalidModel, detail: problem.reason, path: path)
        }
    }

    struct Problem: Error {
        var reason: String
    }

    // MARK: - Walking the header

    private static func walk(_ reader: inout Reader, fileSize: Int64) throws(Problem) -> GGUFSummary {
        let head = try reader.bytes(4, what: "the magic")
        guard head.elementsEqual(magic) else {
            let hex = head.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
            throw Problem(reason: "not a GGUF file: it starts with bytes \(hex), not \"GGUF\"")
        }
        let version = try reader.u32(what: "the version")
        guard supportedVersions.contains(version) else {
            throw Problem(reason: "unsupported GGUF version \(version) (supported: \(supportedVersions.lowerBound)...\(supportedVersions.upperBound))")
        }
        let tensorCount = try reader.count(minimumItemSize: 24, what: "the tensor count")
        let metadataCount = try reader.count(minimumItemSize: 13, what: "the metadata count")

        var architecture: String?
        var alignment = defaultAlignment
        for index in 0..<metadataCount {
            let key = try reader.string(what: "metadata key #\(index)")
            let type = try reader.u32(what: "the type of metadata '\(key)'")
            if key == "general.architecture", type == ValueType.string {
                architecture = try reader.string(what: "metadata '\(key)'")
            } else if key == "general.alignment", type == ValueType.uint32 {
                let value = try reader.u32(what: "metadata '\(key)'")
                guard value > 0, value & (value - 1) == 0 else {
                    throw Problem(reason: "corrupt: general.alignment is \(value), not a power of two")
                }
                alignment = Int(value)
            } else {
                try reader.skipValue(type: type, what: "metadata '\(key)'", depth: 0)
            }
        }

        var tensors: [(name: String, offset: Int64, size: Int64)] = []
        tensors.reserveCapacity(tensorCount)
        for index in 0..<tensorCount {
            let name = try reader.string(what: "the name of tensor #\(index)")
            let dimensionCount = try reader.u32(what: "tensor '\(name)'")
            guard dimensionCount >= 1, dimensionCount <= GGML_MAX_DIMS else {
                throw Problem(reason: "corrupt: tensor '\(name)' has \(dimensionCount) dimensions")
            }
            var dimensions: [Int64] = []
            for _ in 0..<dimensionCount {
                let value = try reader.u64(what: "tensor '\(name)'")
                guard value <= UInt64(Int64.max) else {
                    throw Problem(reason: "corrupt: tensor '\(name)' has a dimension of \(value)")
                }
                dimensions.append(Int64(value))
            }
            let rawType = try reader.u32(what: "tensor '\(name)'")
            let offset = try reader.u64(what: "tensor '\(name)'")
            let size = try tensorByteSize(name: name, rawType: rawType, dimensions: dimensions)
            guard offset <= UInt64(Int64.max), offset % UInt64(alignment) == 0 else {
                throw Problem(reason: "corrupt: tensor '\(name)' has data offset \(offset), not aligned to \(alignment)")
            }
            tensors.append((name, Int64(offset), size))
        }

        let dataStart = Int64((reader.offset + alignment - 1) / alignment * alignment)
        var dataEnd = dataStart
        for tensor in tensors {
            let (end, overflow) = (dataStart + tensor.offset).addingReportingOverflow(tensor.size)
            guard !overflow else {
                throw Problem(reason: "corrupt: tensor '\(tensor.name)' ends beyond any file size")
            }
            guard end <= fileSize else {
                throw Problem(
                    reason: "truncated: tensor '\(tensor.name)' needs bytes up to \(end), but the file has only \(fileSize) bytes")
            }
            dataEnd = max(dataEnd, end)
        }
        return GGUFSummary(
            version: version, tensorCount: tensorCount, metadataCount: metadataCount,
            architecture: architecture, fileSize: fileSize, dataEnd: dataEnd)
    }

    private static func tensorByteSize(name: String, rawType: UInt32, dimensions: [Int64]) throws(Problem) -> Int64 {
        // ggml leaves removed types' traits zeroed: a zero block size marks them as unusable.
        guard rawType < GGML_TYPE_COUNT.rawValue else {
            throw Problem(reason: "corrupt: tensor '\(name)' has unknown type \(rawType)")
        }
        let type = ggml_type(rawValue: rawType)
        let blockSize = Int64(ggml_blck_size(type))
        let typeSize = Int64(ggml_type_size(type))
        guard blockSize > 0, typeSize > 0 else {
            throw Problem(reason: "corrupt: tensor '\(name)' has unsupported type \(rawType)")
        }
        guard dimensions[0] % blockSize == 0 else {
            throw Problem(reason: "corrupt: tensor '\(name)' has a row of \(dimensions[0]) elements, not a multiple of its block size \(blockSize)")
        }
        let (rowSize, overflow) = (dimensions[0] / blockSize).multipliedReportingOverflow(by: typeSize)
        guard !overflow else {
            throw Problem(reason: "corrupt: tensor '\(name)' is larger than any file")
        }
        var size = rowSize
        for dimension in dimensions.dropFirst() {
            let (product, overflow) = size.multipliedReportingOverflow(by: dimension)
            guard !overflow else {
                throw Problem(reason: "corrupt: tensor '\(name)' is larger than any file")
            }
            size = product
        }
        return size
    }

    // MARK: - Reader

    private enum ValueType {
        static let uint8: UInt32 = 0, int8: UInt32 = 1, uint16: UInt32 = 2, int16: UInt32 = 3
        static let uint32: UInt32 = 4, int32: UInt32 = 5, float32: UInt32 = 6, bool: UInt32 = 7
        static let string: UInt32 = 8, array: UInt32 = 9, uint64: UInt32 = 10, int64: UInt32 = 11
        static let float64: UInt32 = 12

        static func fixedSize(_ type: UInt32) -> Int? {
            switch type {
            case uint8, int8, bool: 1
            case uint16, int16: 2
            case uint32, int32, float32: 4
            case uint64, int64, float64: 8
            default: nil
            }
        }
    }

    /// A bounds-checked little-endian cursor over the mapped file.
    private struct Reader {
        let base: UnsafeRawPointer
        let size: Int
        var offset = 0

        init(base: UnsafeRawPointer, size: Int) {
            self.base = base
            self.size = size
        }

        var remaining: Int { size - offset }

        private func cutOff(_ what: String) -> Problem {
            Problem(reason: "truncated or corrupt: the header ends at byte \(size) while reading \(what) (at byte \(offset))")
        }

        mutating func skip(_ count: Int, what: String) throws(Problem) {
            guard count >= 0, count <= remaining else { throw cutOff(what) }
            offset += count
        }

        mutating func bytes(_ count: Int, what: String) throws(Problem) -> UnsafeRawBufferPointer {
            let start = offset
            try skip(count, what: what)
            return UnsafeRawBufferPointer(start: base + start, count: count)
        }

        mutating func u32(what: String) throws(Problem) -> UInt32 {
            let start = offset
            try skip(4, what: what)
            return UInt32(littleEndian: base.loadUnaligned(fromByteOffset: start, as: UInt32.self))
        }

        mutating func u64(what: String) throws(Problem) -> UInt64 {
            let start = offset
            try skip(8, what: what)
            return UInt64(littleEndian: base.loadUnaligned(fromByteOffset: start, as: UInt64.self))
        }

        /// Reads an item count, refusing counts whose items could not fit in the rest of the file.
        mutating func count(minimumItemSize: Int, what: String) throws(Problem) -> Int {
            let value = try u64(what: what)
            guard value <= UInt64(remaining / minimumItemSize) else {
                throw Problem(reason: "truncated or corrupt: \(what) is \(value), more than the remaining \(remaining) bytes can hold")
            }
            return Int(value)
        }

        mutating func string(what: String) throws(Problem) -> String {
            let length = try u64(what: what)
            guard length <= UInt64(remaining) else { throw cutOff(what) }
            return String(decoding: try bytes(Int(length), what: what), as: UTF8.self)
        }

        mutating func skipValue(type: UInt32, what: String, depth: Int) throws(Problem) {
            if let size = ValueType.fixedSize(type) {
                try skip(size, what: what)
            } else if type == ValueType.string {
                let length = try u64(what: what)
                guard length <= UInt64(remaining) else { throw cutOff(what) }
                try skip(Int(length), what: what)
            } else if type == ValueType.array, depth < 2 {
                let elementType = try u32(what: what)
                if let size = ValueType.fixedSize(elementType) {
                    let count = try self.count(minimumItemSize: size, what: what)
                    try skip(count * size, what: what)
                } else {
                    let count = try self.count(minimumItemSize: 8, what: what)
                    for _ in 0..<count {
                        try skipValue(type: elementType, what: what, depth: depth + 1)
                    }
                }
            } else {
                throw Problem(reason: "corrupt: \(what) has unknown value type \(type)")
            }
        }
    }
}
