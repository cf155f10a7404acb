/// The one version string: `--version` of both executables and the README.
public enum Version {
    public static let string = "0.4.0"
}
