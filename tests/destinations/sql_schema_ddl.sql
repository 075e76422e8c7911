-- sqlite session
CREATE TABLE session (
	id INTEGER NOT NULL, 
	lsid VARCHAR(100) NOT NULL, 
	type VARCHAR(50), 
	start_time DATETIME, 
	end_time DATETIME, 
	duration VARCHAR(20), 
	file_transfers INTEGER, 
	host_name VARCHAR(255) NOT NULL, 
	external_key TEXT, 
	public_site_id VARCHAR(50), 
	public_site_name VARCHAR(255), 
	lseq BIGINT, 
	jump_group_id VARCHAR(50), 
	jump_group_name VARCHAR(255), 
	jump_group_type VARCHAR(50), 
	jumpoint_id VARCHAR(50), 
	jumpoint_name VARCHAR(255), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_session_host_lsid UNIQUE (host_name, lsid)
)
CREATE INDEX ix_session_start_time ON session (start_time)
-- sqlite custom_attribute
CREATE TABLE custom_attribute (
	id INTEGER NOT NULL, 
	session_id INTEGER NOT NULL, 
	display_name VARCHAR(255), 
	code_name VARCHAR(255), 
	value TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_custom_attribute_session_id ON custom_attribute (session_id)
-- sqlite endpoint
CREATE TABLE endpoint (
	id INTEGER NOT NULL, 
	session_id INTEGER NOT NULL, 
	gs_number VARCHAR(50), 
	issue TEXT, 
	issue_description TEXT, 
	display_name VARCHAR(255), 
	company_name VARCHAR(255), 
	company_code VARCHAR(255), 
	public_ip VARCHAR(100), 
	private_ip VARCHAR(100), 
	rpat_support INTEGER, 
	host_name VARCHAR(255), 
	operating_system VARCHAR(255), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_endpoint_session_id ON endpoint (session_id)
-- sqlite session_event
CREATE TABLE session_event (
	id INTEGER NOT NULL, 
	session_id INTEGER NOT NULL, 
	type VARCHAR(100), 
	event_time DATETIME, 
	performed_by TEXT, 
	performed_by_type VARCHAR(50), 
	destination TEXT, 
	destination_type VARCHAR(50), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_session_id ON session_event (session_id)
-- sqlite team
CREATE TABLE team (
	id INTEGER NOT NULL, 
	session_id INTEGER NOT NULL, 
	team_id VARCHAR(50), 
	name VARCHAR(255), 
	is_primary INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_team_session_id ON team (session_id)
-- sqlite user
CREATE TABLE user (
	id INTEGER NOT NULL, 
	gs_number VARCHAR(50), 
	session_id INTEGER NOT NULL, 
	user_id VARCHAR(50), 
	user_name VARCHAR(255), 
	display_name VARCHAR(255), 
	public_display_name VARCHAR(255), 
	display_number VARCHAR(50), 
	public_ip VARCHAR(100), 
	private_ip VARCHAR(100), 
	is_owner INTEGER, 
	is_primary INTEGER, 
	duration INTEGER, 
	host_name VARCHAR(255), 
	operating_system VARCHAR(255), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_user_session_id ON user (session_id)
-- sqlite session_event_data
CREATE TABLE session_event_data (
	id INTEGER NOT NULL, 
	session_event_id INTEGER NOT NULL, 
	name VARCHAR(255), 
	value TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_data_session_event_id ON session_event_data (session_event_id)
-- sqlite system_information
CREATE TABLE system_information (
	id INTEGER NOT NULL, 
	session_event_id INTEGER NOT NULL, 
	category VARCHAR(255), 
	information TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_system_information_session_event_id ON system_information (session_event_id)
-- postgresql session
CREATE TABLE session (
	id BIGSERIAL NOT NULL, 
	lsid VARCHAR(100) NOT NULL, 
	type VARCHAR(50), 
	start_time TIMESTAMP WITHOUT TIME ZONE, 
	end_time TIMESTAMP WITHOUT TIME ZONE, 
	duration VARCHAR(20), 
	file_transfers INTEGER, 
	host_name VARCHAR(255) NOT NULL, 
	external_key TEXT, 
	public_site_id VARCHAR(50), 
	public_site_name VARCHAR(255), 
	lseq BIGINT, 
	jump_group_id VARCHAR(50), 
	jump_group_name VARCHAR(255), 
	jump_group_type VARCHAR(50), 
	jumpoint_id VARCHAR(50), 
	jumpoint_name VARCHAR(255), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_session_host_lsid UNIQUE (host_name, lsid)
)
CREATE INDEX ix_session_start_time ON session (start_time)
-- postgresql custom_attribute
CREATE TABLE custom_attribute (
	id BIGSERIAL NOT NULL, 
	session_id BIGINT NOT NULL, 
	display_name VARCHAR(255), 
	code_name VARCHAR(255), 
	value TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_custom_attribute_session_id ON custom_attribute (session_id)
-- postgresql endpoint
CREATE TABLE endpoint (
	id BIGSERIAL NOT NULL, 
	session_id BIGINT NOT NULL, 
	gs_number VARCHAR(50), 
	issue TEXT, 
	issue_description TEXT, 
	display_name VARCHAR(255), 
	company_name VARCHAR(255), 
	company_code VARCHAR(255), 
	public_ip VARCHAR(100), 
	private_ip VARCHAR(100), 
	rpat_support INTEGER, 
	host_name VARCHAR(255), 
	operating_system VARCHAR(255), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_endpoint_session_id ON endpoint (session_id)
-- postgresql session_event
CREATE TABLE session_event (
	id BIGSERIAL NOT NULL, 
	session_id BIGINT NOT NULL, 
	type VARCHAR(100), 
	event_time TIMESTAMP WITHOUT TIME ZONE, 
	performed_by TEXT, 
	performed_by_type VARCHAR(50), 
	destination TEXT, 
	destination_type VARCHAR(50), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_session_id ON session_event (session_id)
-- postgresql team
CREATE TABLE team (
	id BIGSERIAL NOT NULL, 
	session_id BIGINT NOT NULL, 
	team_id VARCHAR(50), 
	name VARCHAR(255), 
	is_primary INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_team_session_id ON team (session_id)
-- postgresql user
CREATE TABLE "user" (
	id BIGSERIAL NOT NULL, 
	gs_number VARCHAR(50), 
	session_id BIGINT NOT NULL, 
	user_id VARCHAR(50), 
	user_name VARCHAR(255), 
	display_name VARCHAR(255), 
	public_display_name VARCHAR(255), 
	display_number VARCHAR(50), 
	public_ip VARCHAR(100), 
	private_ip VARCHAR(100), 
	is_owner INTEGER, 
	is_primary INTEGER, 
	duration INTEGER, 
	host_name VARCHAR(255), 
	operating_system VARCHAR(255), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_user_session_id ON "user" (session_id)
-- postgresql session_event_data
CREATE TABLE session_event_data (
	id BIGSERIAL NOT NULL, 
	session_event_id BIGINT NOT NULL, 
	name VARCHAR(255), 
	value TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_data_session_event_id ON session_event_data (session_event_id)
-- postgresql system_information
CREATE TABLE system_information (
	id BIGSERIAL NOT NULL, 
	session_event_id BIGINT NOT NULL, 
	category VARCHAR(255), 
	information TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_system_information_session_event_id ON system_information (session_event_id)
-- mssql session
CREATE TABLE session (
	id BIGINT NOT NULL IDENTITY, 
	lsid NVARCHAR(100) NOT NULL, 
	type NVARCHAR(50) NULL, 
	start_time DATETIME NULL, 
	end_time DATETIME NULL, 
	duration NVARCHAR(20) NULL, 
	file_transfers INTEGER NULL, 
	host_name NVARCHAR(255) NOT NULL, 
	external_key NVARCHAR(max) NULL, 
	public_site_id NVARCHAR(50) NULL, 
	public_site_name NVARCHAR(255) NULL, 
	lseq BIGINT NULL, 
	jump_group_id NVARCHAR(50) NULL, 
	jump_group_name NVARCHAR(255) NULL, 
	jump_group_type NVARCHAR(50) NULL, 
	jumpoint_id NVARCHAR(50) NULL, 
	jumpoint_name NVARCHAR(255) NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_session_host_lsid UNIQUE (host_name, lsid)
)
CREATE INDEX ix_session_start_time ON session (start_time)
-- mssql custom_attribute
CREATE TABLE custom_attribute (
	id BIGINT NOT NULL IDENTITY, 
	session_id BIGINT NOT NULL, 
	display_name NVARCHAR(255) NULL, 
	code_name NVARCHAR(255) NULL, 
	value NVARCHAR(max) NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_custom_attribute_session_id ON custom_attribute (session_id)
-- mssql endpoint
CREATE TABLE endpoint (
	id BIGINT NOT NULL IDENTITY, 
	session_id BIGINT NOT NULL, 
	gs_number NVARCHAR(50) NULL, 
	issue NVARCHAR(max) NULL, 
	issue_description NVARCHAR(max) NULL, 
	display_name NVARCHAR(255) NULL, 
	company_name NVARCHAR(255) NULL, 
	company_code NVARCHAR(255) NULL, 
	public_ip NVARCHAR(100) NULL, 
	private_ip NVARCHAR(100) NULL, 
	rpat_support INTEGER NULL, 
	host_name NVARCHAR(255) NULL, 
	operating_system NVARCHAR(255) NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_endpoint_session_id ON endpoint (session_id)
-- mssql session_event
CREATE TABLE session_event (
	id BIGINT NOT NULL IDENTITY, 
	session_id BIGINT NOT NULL, 
	type NVARCHAR(100) NULL, 
	event_time DATETIME NULL, 
	performed_by NVARCHAR(max) NULL, 
	performed_by_type NVARCHAR(50) NULL, 
	destination NVARCHAR(max) NULL, 
	destination_type NVARCHAR(50) NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_session_id ON session_event (session_id)
-- mssql team
CREATE TABLE team (
	id BIGINT NOT NULL IDENTITY, 
	session_id BIGINT NOT NULL, 
	team_id NVARCHAR(50) NULL, 
	name NVARCHAR(255) NULL, 
	is_primary INTEGER NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_team_session_id ON team (session_id)
-- mssql user
CREATE TABLE [user] (
	id BIGINT NOT NULL IDENTITY, 
	gs_number NVARCHAR(50) NULL, 
	session_id BIGINT NOT NULL, 
	user_id NVARCHAR(50) NULL, 
	user_name NVARCHAR(255) NULL, 
	display_name NVARCHAR(255) NULL, 
	public_display_name NVARCHAR(255) NULL, 
	display_number NVARCHAR(50) NULL, 
	public_ip NVARCHAR(100) NULL, 
	private_ip NVARCHAR(100) NULL, 
	is_owner INTEGER NULL, 
	is_primary INTEGER NULL, 
	duration INTEGER NULL, 
	host_name NVARCHAR(255) NULL, 
	operating_system NVARCHAR(255) NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_user_session_id ON [user] (session_id)
-- mssql session_event_data
CREATE TABLE session_event_data (
	id BIGINT NOT NULL IDENTITY, 
	session_event_id BIGINT NOT NULL, 
	name NVARCHAR(255) NULL, 
	value NVARCHAR(max) NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_data_session_event_id ON session_event_data (session_event_id)
-- mssql system_information
CREATE TABLE system_information (
	id BIGINT NOT NULL IDENTITY, 
	session_event_id BIGINT NOT NULL, 
	category NVARCHAR(255) NULL, 
	information NVARCHAR(max) NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_system_information_session_event_id ON system_information (session_event_id)
-- mysql session
CREATE TABLE session (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	lsid VARCHAR(100) NOT NULL, 
	type VARCHAR(50), 
	start_time DATETIME, 
	end_time DATETIME, 
	duration VARCHAR(20), 
	file_transfers INTEGER, 
	host_name VARCHAR(255) NOT NULL, 
	external_key LONGTEXT, 
	public_site_id VARCHAR(50), 
	public_site_name VARCHAR(255), 
	lseq BIGINT, 
	jump_group_id VARCHAR(50), 
	jump_group_name VARCHAR(255), 
	jump_group_type VARCHAR(50), 
	jumpoint_id VARCHAR(50), 
	jumpoint_name VARCHAR(255), 
	PRIMARY KEY (id), 
	CONSTRAINT uq_session_host_lsid UNIQUE (host_name, lsid)
)
CREATE INDEX ix_session_start_time ON session (start_time)
-- mysql custom_attribute
CREATE TABLE custom_attribute (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	session_id BIGINT NOT NULL, 
	display_name VARCHAR(255), 
	code_name VARCHAR(255), 
	value LONGTEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_custom_attribute_session_id ON custom_attribute (session_id)
-- mysql endpoint
CREATE TABLE endpoint (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	session_id BIGINT NOT NULL, 
	gs_number VARCHAR(50), 
	issue LONGTEXT, 
	issue_description LONGTEXT, 
	display_name VARCHAR(255), 
	company_name VARCHAR(255), 
	company_code VARCHAR(255), 
	public_ip VARCHAR(100), 
	private_ip VARCHAR(100), 
	rpat_support INTEGER, 
	host_name VARCHAR(255), 
	operating_system VARCHAR(255), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_endpoint_session_id ON endpoint (session_id)
-- mysql session_event
CREATE TABLE session_event (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	session_id BIGINT NOT NULL, 
	type VARCHAR(100), 
	event_time DATETIME, 
	performed_by LONGTEXT, 
	performed_by_type VARCHAR(50), 
	destination LONGTEXT, 
	destination_type VARCHAR(50), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_session_id ON session_event (session_id)
-- mysql team
CREATE TABLE team (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	session_id BIGINT NOT NULL, 
	team_id VARCHAR(50), 
	name VARCHAR(255), 
	is_primary INTEGER, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_team_session_id ON team (session_id)
-- mysql user
CREATE TABLE user (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	gs_number VARCHAR(50), 
	session_id BIGINT NOT NULL, 
	user_id VARCHAR(50), 
	user_name VARCHAR(255), 
	display_name VARCHAR(255), 
	public_display_name VARCHAR(255), 
	display_number VARCHAR(50), 
	public_ip VARCHAR(100), 
	private_ip VARCHAR(100), 
	is_owner INTEGER, 
	is_primary INTEGER, 
	duration INTEGER, 
	host_name VARCHAR(255), 
	operating_system VARCHAR(255), 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_id) REFERENCES session (id) ON DELETE CASCADE
)
CREATE INDEX ix_user_session_id ON user (session_id)
-- mysql session_event_data
CREATE TABLE session_event_data (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	session_event_id BIGINT NOT NULL, 
	name VARCHAR(255), 
	value LONGTEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_session_event_data_session_event_id ON session_event_data (session_event_id)
-- mysql system_information
CREATE TABLE system_information (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	session_event_id BIGINT NOT NULL, 
	category VARCHAR(255), 
	information LONGTEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(session_event_id) REFERENCES session_event (id) ON DELETE CASCADE
)
CREATE INDEX ix_system_information_session_event_id ON system_information (session_event_id)
