; Inno Setup 6.3+ script of Kraken Cancel Console: a per-user install (no administrator rights), a
; Start-menu entry, and an uninstaller (Settings > Apps). Built on Windows after PyInstaller:
;   pyinstaller --noconfirm --distpath dist --workpath packaging/build packaging/kraken-cancel.spec
;   iscc /DAppVersion=0.1.0 packaging\windows\kraken-cancel.iss
; -> dist\kraken-cancel-<version>-windows-x64-setup.exe (see .github/workflows/installers.yml).
; The user's data (%LOCALAPPDATA%\kraken-cancel: config, audit log) and the keys in Windows
; Credential Manager are left in place by the uninstaller: they belong to the user, not the program.
; Silent install and removal (CI does both): setup.exe /VERYSILENT /SUPPRESSMSGBOXES /NORESTART, then
; "{app}\unins000.exe" /VERYSILENT /SUPPRESSMSGBOXES /NORESTART.

#define AppName "Kraken Cancel Console"
#define AppExe "kraken-cancel.exe"
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif

[Setup]
; Never change AppId: Windows finds the installed copy (upgrade, uninstall) by it.
AppId={{4F2AD150-FDA2-459D-A307-6C6CB3DCD465}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Kraken Cancel Console maintainers
; Per user: {autopf} is %LOCALAPPDATA%\Programs when running without administrator rights.
PrivilegesRequired=lowest
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=kraken-cancel-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\icons\kraken-cancel.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; Close a running copy before replacing its files (upgrade) or removing them (uninstall).
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\kraken-cancel\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
; The licence notices (packaging/notices.py) also at the top of the install folder, where people
; look; the app reads the copy in _internal.
Source: "..\..\dist\kraken-cancel\_internal\THIRD-PARTY-NOTICES.txt"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"
Name: "{autoprograms}\{#AppName} (demo)"; Filename: "{app}\{#AppExe}"; Parameters: "--demo"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
