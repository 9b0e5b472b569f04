import GRDB
import WebhookCore
import WebhookStorage

extension StoreFault {
    /// The fault behind an error an SQLite store threw: its result code, read as an operator would.
    ///
    /// SQLITE_READONLY_DBMOVED is how SQLite says the file it has open was removed or replaced;
    /// SQLITE_CANTOPEN that it cannot create or open a file it needs (the WAL, in a folder it
    /// cannot write). Errors that are not SQLite's are `other`.
    public init(sqlite error: any Error) {
        if let error = error as? DatabaseFileMovedError {
            self.init(.fileMoved, detail: error.description)
            return
        }
        guard let error = error as? DatabaseError else {
            self.init(.other, detail: "\(error)")
            return
        }
        let detail = error.message ?? "\(error.resultCode)"
        let kind: Kind
        switch error.resultCode {
        case .SQLITE_FULL: kind = .diskFull
        case .SQLITE_IOERR: kind = .ioError
        case .SQLITE_READONLY: kind = error.extendedResultCode == .SQLITE_READONLY_DBMOVED ? .fileMoved : .readOnly
        case .SQLITE_CANTOPEN, .SQLITE_PERM: kind = .readOnly
        case .SQLITE_BUSY, .SQLITE_LOCKED: kind = .busy
        default: kind = .other
        }
        self.init(kind, detail: detail)
    }
}

extension SQLiteWebhookStore {
    public func fault(of error: any Error) -> StoreFault {
        StoreFault(sqlite: error)
    }
}
