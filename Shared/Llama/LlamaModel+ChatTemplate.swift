import CLlama
import Foundation

/// One message of a chat, for ``LlamaModel/applyChatTemplate(_:addAssistantTurn:)``.
public struct ChatMessage: Sendable, Hashable {
    /// Who speaks.
    public struct Role: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        /// Instructions that frame the conversation.
        public static let system = Role(rawValue: "system")
        /// The person asking.
        public static let user = Role(rawValue: "user")
        /// The model.
        public static let assistant = Role(rawValue: "assistant")
    }

    public var role: Role
    public var content: String

    public init(role: Role, content: String) {
        self.role = role
        self.content = content
    }
}

extension LlamaModel {
    /// Formats a chat into a prompt with the model's own chat template.
    ///
    /// libllama recognizes the template stored in the file among its built-in formats (ChatML, Llama 3,
    /// Gemma, ...) and applies it; it does not run arbitrary Jinja.
    /// - Parameter addAssistantTurn: End with the opening of an assistant message, so that generation
    ///   continues as the assistant's answer.
    /// - Returns: The prompt, to tokenize with `parseSpecial: true`.
    /// - Throws: ``LlamaError/Code/noChatTemplate`` for models without one (base models),
    ///   ``LlamaError/Code/unsupportedChatTemplate`` when libllama does not know the template.
    public func applyChatTemplate(_ messages: [ChatMessage], addAssistantTurn: Bool = true) throws -> String {
        guard let chatTemplate else {
            throw LlamaError(
                code: .noChatTemplate,
                detail: "the model has no chat template (a base model?): build a completion-style prompt instead",
                path: path)
        }
        // The C strings live until the defer; llama_chat_message only borrows them.
        let strings = messages.map { (strdup($0.role.rawValue), strdup($0.content)) }
        defer {
            for (role, content) in strings {
                free(role)
                free(content)
            }
        }
        let chat = strings.map { llama_chat_message(role: $0.0, content: $0.1) }
        let contentBytes = messages.reduce(0) { $0 + $1.content.utf8.count + $1.role.rawValue.utf8.count }
        var capacity = max(256, contentBytes * 2 + 256)
        for _ in 0..<2 {
            var length: Int32 = 0
            let prompt = chatTemplate.withCString { template in
                withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer -> String? in
                    length = llama_chat_apply_template(
                        template, chat, chat.count, addAssistantTurn, buffer.baseAddress, Int32(clamping: capacity))
                    guard length >= 0, Int(length) <= capacity else { return nil }
                    return buffer.withMemoryRebound(to: UInt8.self) {
                        String(decoding: $0.prefix(Int(length)), as: UTF8.self)
                    }
                }
            }
            if let prompt { return prompt }
            guard length >= 0 else {
                throw LlamaError(
                    code: .unsupportedChatTemplate, detail: "libllama does not support this model's chat template",
                    path: path, underlyingCode: length)
            }
            capacity = Int(length) + 1
        }
        throw LlamaError(code: .unsupportedChatTemplate, detail: "the chat template gave inconsistent lengths", path: path)
    }
}
